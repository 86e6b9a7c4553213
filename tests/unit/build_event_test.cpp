#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/queue/build_event.hpp"
#include "common/queue/build_id.hpp"

TEST_CASE("an event serialises to the documented schema") {
  kiwi::build_event e;
  e.type = kiwi::event_type::stage_succeeded;
  e.build_id = "01jd";
  e.service = "user-api";
  e.ref = "refs/heads/main";
  e.sha = std::string(40, 'a');
  e.stage = "clone";
  e.status = "succeeded";
  e.message = "line with \"quotes\"\nand a newline";
  e.ts = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764345600123));
  auto j = nlohmann::json::parse(kiwi::event_json(e, 7));
  CHECK(j["v"] == 1);
  CHECK(j["type"] == "stage.succeeded");
  CHECK(j["build_id"] == "01jd");
  CHECK(j["service"] == "user-api");
  CHECK(j["ref"] == "refs/heads/main");
  CHECK(j["sha"] == std::string(40, 'a'));
  CHECK(j["stage"] == "clone");
  CHECK(j["status"] == "succeeded");
  CHECK(j["ts"] == "2025-11-28T16:00:00.123Z");
  CHECK(j["seq"] == 7);
  CHECK(j["message"] == "line with \"quotes\"\nand a newline");
  CHECK(j.size() == 11);
}

TEST_CASE("the prefix is the event without its seq and closing brace") {
  kiwi::build_event e;
  e.message = "x";
  auto prefix = kiwi::event_json_prefix(e);
  CHECK(prefix.back() != '}');
  CHECK(prefix + ",\"seq\":3}" == kiwi::event_json(e, 3));
}

TEST_CASE("invalid UTF-8 in a log line does not break the event") {
  kiwi::build_event e;
  // A stray byte, a truncated sequence, an overlong '/', a UTF-16 surrogate: each becomes U+FFFD.
  e.message = std::string("bad \xff byte \xe2\x82 cut \xc0\xaf \xed\xa0\x80 end");
  auto j = nlohmann::json::parse(kiwi::event_json(e, 1));
  const std::string r = "\xef\xbf\xbd";
  CHECK(j["message"] == "bad " + r + " byte " + r + r + " cut " + r + r + " " + r + r + r + " end");
}

TEST_CASE("control characters are escaped and valid UTF-8 is kept") {
  kiwi::build_event e;
  e.message = std::string("tab\there \x01 bell\x07 \\ caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6");
  const std::string json = kiwi::event_json(e, 1);
  CHECK(json.find("\\u0001") != std::string::npos);
  CHECK(json.find('\x07') == std::string::npos);
  CHECK(nlohmann::json::parse(json)["message"] == e.message);
}

TEST_CASE("build ids are 26 characters and sort by time") {
  using namespace std::chrono;
  auto t = system_clock::time_point(milliseconds(1764345600000));
  auto a = kiwi::new_build_id(t, 5);
  auto b = kiwi::new_build_id(t + milliseconds(1), 0);
  CHECK(a.size() == 26);
  CHECK(a < b);
  CHECK(kiwi::new_build_id() != kiwi::new_build_id());
  for (char c : kiwi::new_build_id()) {
    CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')));
  }
}

// Event streams find a stored event's build and type without parsing it, whatever its message says.
TEST_CASE("stored_event_field reads the leading fields of a stored event") {
  kiwi::build_event e;
  e.type = kiwi::event_type::build_queued;
  e.build_id = "42-1";
  e.service = "app";
  e.message = R"(a commit saying "type":"build.failed" and "build_id":"7-7")";
  const std::string stored = kiwi::event_json(e, 1);
  CHECK(kiwi::stored_event_field(stored, "type") == "build.queued");
  CHECK(kiwi::stored_event_field(stored, "build_id") == "42-1");
  CHECK(kiwi::stored_event_field(stored, "missing").empty());
  CHECK(kiwi::stored_event_field(R"({"v":1,"type":"unterminated)", "type").empty());
}
