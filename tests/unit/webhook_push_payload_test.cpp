#include "daemon/webhook/github.hpp"
#include "daemon/webhook/gitlab.hpp"
#include "tests/unit/webhook_fixtures.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace {

using kiwi::test::read_fixture;
using kiwi::webhook::push_event;
using nlohmann::json;

constexpr const char* zero_sha = "0000000000000000000000000000000000000000";

json fixture_json(const std::string& relative) {
  return json::parse(read_fixture(relative));
}

push_event expect_event(const kiwi::webhook::push_parse_result& result) {
  if (const auto* error = std::get_if<std::string>(&result)) {
    FAIL("unexpected parse error: " << *error);
  }
  return std::get<push_event>(result);
}

std::string expect_error(const kiwi::webhook::push_parse_result& result) {
  REQUIRE_MESSAGE(std::holds_alternative<std::string>(result), "expected a parse error");
  return std::get<std::string>(result);
}

}  // namespace

TEST_CASE("github branch push fixture yields its branch, shas, message, pusher and repository") {
  // Intent: every field of push_event matches the real GitHub example payload.
  auto ev = expect_event(kiwi::webhook::github::parse_push(read_fixture("github/push_branch.json")));
  CHECK(ev.provider == kiwi::git_provider::github);
  CHECK(ev.ref == "refs/heads/master");
  CHECK(ev.branch == "master");
  CHECK(ev.tag.empty());
  CHECK(ev.before == zero_sha);
  CHECK(ev.after == "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  CHECK_FALSE(ev.deleted);
  CHECK_FALSE(ev.skip_ci);
  CHECK(ev.commit_count == 1);
  CHECK(ev.head_message == "Initial commit");
  CHECK(ev.pusher == "Codertocat");
  CHECK(ev.repository == "Codertocat/Hello-World");
}

TEST_CASE("gitlab branch push fixture yields its branch, shas, head commit, pusher and project") {
  // Intent: every field matches GitLab's documented Push Hook example; head is the commit == after.
  auto ev = expect_event(kiwi::webhook::gitlab::parse_push(read_fixture("gitlab/push_branch.json")));
  CHECK(ev.provider == kiwi::git_provider::gitlab);
  CHECK(ev.ref == "refs/heads/master");
  CHECK(ev.branch == "master");
  CHECK(ev.tag.empty());
  CHECK(ev.before == "95790bf891e76fee5e1747ab589903a6a1f80f22");
  CHECK(ev.after == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  CHECK_FALSE(ev.deleted);
  CHECK_FALSE(ev.skip_ci);
  CHECK(ev.commit_count == 4);  // total_commits_count, not the 2 listed commits
  CHECK(ev.head_message == "fixed readme");
  CHECK(ev.pusher == "jsmith");
  CHECK(ev.repository == "mike/diaspora");
}

TEST_CASE("github tag push fixture yields the tag and no branch") {
  // Intent: refs/tags/T sets tag, leaves branch empty; no commits means no skip_ci.
  auto ev = expect_event(kiwi::webhook::github::parse_push(read_fixture("github/push_tag.json")));
  CHECK(ev.ref == "refs/tags/simple-tag");
  CHECK(ev.tag == "simple-tag");
  CHECK(ev.branch.empty());
  CHECK(ev.before == zero_sha);
  CHECK(ev.after == "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  CHECK_FALSE(ev.deleted);
  CHECK_FALSE(ev.skip_ci);
  CHECK(ev.commit_count == 0);
  CHECK(ev.head_message == "Adding a .gitignore file");
  CHECK(ev.pusher == "Codertocat");
  CHECK(ev.repository == "Codertocat/Hello-World");
}

TEST_CASE("gitlab tag push fixture yields the tag; absent user_username leaves pusher empty") {
  // Intent: GitLab's documented Tag Push Hook example parses, though it has no user_username.
  auto ev = expect_event(kiwi::webhook::gitlab::parse_push(read_fixture("gitlab/push_tag.json")));
  CHECK(ev.provider == kiwi::git_provider::gitlab);
  CHECK(ev.ref == "refs/tags/v1.0.0");
  CHECK(ev.tag == "v1.0.0");
  CHECK(ev.branch.empty());
  CHECK(ev.before == zero_sha);
  CHECK(ev.after == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7");
  CHECK_FALSE(ev.deleted);
  CHECK_FALSE(ev.skip_ci);
  CHECK(ev.commit_count == 0);
  CHECK(ev.head_message.empty());
  CHECK(ev.pusher.empty());
  CHECK(ev.repository == "jsmith/example");
}

TEST_CASE("github deletion fixture is a deletion with a null head commit") {
  // Intent: "deleted": true with after all zeros and head_commit null parses as a deletion.
  auto ev = expect_event(kiwi::webhook::github::parse_push(read_fixture("github/push_tag_deleted.json")));
  CHECK(ev.deleted);
  CHECK(ev.tag == "simple-tag");
  CHECK(ev.before == "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  CHECK(ev.after == zero_sha);
  CHECK(ev.head_message.empty());
  CHECK(ev.commit_count == 0);
  CHECK_FALSE(ev.skip_ci);
}

TEST_CASE("github branch deletion is recognised from either the flag or an all-zero after") {
  // Intent: deleted is GitHub's flag OR after == 40 zeros.
  auto doc = fixture_json("github/push_branch.json");
  doc["after"] = zero_sha;
  doc["deleted"] = false;
  doc["commits"] = json::array();
  doc["head_commit"] = nullptr;
  auto ev = expect_event(kiwi::webhook::github::parse_push(doc.dump()));
  CHECK(ev.deleted);
  CHECK(ev.branch == "master");

  doc = fixture_json("github/push_branch.json");
  doc["deleted"] = true;
  CHECK(expect_event(kiwi::webhook::github::parse_push(doc.dump())).deleted);
}

TEST_CASE("gitlab branch deletion is recognised from an all-zero after") {
  // Intent: GitLab has no deleted field; after == 40 zeros means deletion.
  auto doc = fixture_json("gitlab/push_branch.json");
  doc["after"] = zero_sha;
  doc["checkout_sha"] = nullptr;
  doc["commits"] = json::array();
  doc["total_commits_count"] = 0;
  auto ev = expect_event(kiwi::webhook::gitlab::parse_push(doc.dump()));
  CHECK(ev.deleted);
  CHECK(ev.branch == "master");
  CHECK(ev.commit_count == 0);
  CHECK(ev.head_message.empty());
  CHECK_FALSE(ev.skip_ci);
}

TEST_CASE("skip_ci needs every commit to carry [skip ci] or [ci skip], in any case") {
  // Intent: skip_ci is all-commits, case-insensitive, both marker spellings, both providers.
  auto github = fixture_json("github/push_branch.json");
  github["commits"][0]["message"] = "Initial commit [SKIP CI]";
  CHECK(expect_event(kiwi::webhook::github::parse_push(github.dump())).skip_ci);
  github["commits"].push_back(github["commits"][0]);
  github["commits"][1]["message"] = "docs only\n\n[Ci Skip]";
  CHECK(expect_event(kiwi::webhook::github::parse_push(github.dump())).skip_ci);
  github["commits"][1]["message"] = "real change";
  CHECK_FALSE(expect_event(kiwi::webhook::github::parse_push(github.dump())).skip_ci);
  github["commits"][1]["message"] = "[skip-ci] is not the marker";
  CHECK_FALSE(expect_event(kiwi::webhook::github::parse_push(github.dump())).skip_ci);

  auto gitlab = fixture_json("gitlab/push_branch.json");
  gitlab["commits"][0]["message"] = "translation [ci skip]";
  CHECK_FALSE(expect_event(kiwi::webhook::gitlab::parse_push(gitlab.dump())).skip_ci);
  gitlab["commits"][1]["message"] = "fixed readme [skip ci]";
  CHECK(expect_event(kiwi::webhook::gitlab::parse_push(gitlab.dump())).skip_ci);
}

TEST_CASE("head message is the first line of the head commit") {
  // Intent: first line only (CRLF too); GitLab picks the commit whose id is after, else the last.
  auto github = fixture_json("github/push_branch.json");
  github["head_commit"]["message"] = "Subject line\r\n\r\nBody text";
  CHECK(expect_event(kiwi::webhook::github::parse_push(github.dump())).head_message == "Subject line");

  auto gitlab = fixture_json("gitlab/push_branch.json");
  std::swap(gitlab["commits"][0], gitlab["commits"][1]);  // head commit no longer last
  CHECK(expect_event(kiwi::webhook::gitlab::parse_push(gitlab.dump())).head_message == "fixed readme");
  gitlab["after"] = "1111111111111111111111111111111111111111";
  CHECK(expect_event(kiwi::webhook::gitlab::parse_push(gitlab.dump())).head_message ==
        "Update Catalan translation to e38cb41.");
}

TEST_CASE("a body that is not JSON is reported with the parser's message") {
  // Intent: invalid JSON yields a "body is not valid JSON: ..." error, never an exception.
  for (auto parse : {kiwi::webhook::github::parse_push, kiwi::webhook::gitlab::parse_push}) {
    auto error = expect_error(parse("{\"ref\": "));
    CHECK(error.starts_with("body is not valid JSON: "));
    CHECK(error.size() > std::string("body is not valid JSON: ").size());
    CHECK(expect_error(parse("")).starts_with("body is not valid JSON"));
    CHECK(expect_error(parse("[1, 2]")) == "push payload is not a JSON object");
  }
}

TEST_CASE("a payload without ref is rejected with an actionable message") {
  // Intent: missing required fields name the field.
  auto github = fixture_json("github/push_branch.json");
  github.erase("ref");
  CHECK(expect_error(kiwi::webhook::github::parse_push(github.dump())) == "push payload lacks \"ref\"");

  auto gitlab = fixture_json("gitlab/push_branch.json");
  gitlab.erase("ref");
  CHECK(expect_error(kiwi::webhook::gitlab::parse_push(gitlab.dump())) == "push payload lacks \"ref\"");

  github = fixture_json("github/push_branch.json");
  github["repository"].erase("full_name");
  CHECK(expect_error(kiwi::webhook::github::parse_push(github.dump())) ==
        "push payload lacks \"repository.full_name\"");

  gitlab = fixture_json("gitlab/push_branch.json");
  gitlab.erase("project");
  CHECK(expect_error(kiwi::webhook::gitlab::parse_push(gitlab.dump())) ==
        "push payload lacks \"project.path_with_namespace\"");
}

TEST_CASE("other GitHub events are not mistaken for pushes") {
  // Intent: real ping, issues and create payloads are rejected, not parsed into a push.
  CHECK(expect_error(kiwi::webhook::github::parse_push(read_fixture("github/ping.json"))) ==
        "push payload lacks \"ref\"");
  CHECK(expect_error(kiwi::webhook::github::parse_push(read_fixture("github/issues_opened.json"))) ==
        "push payload lacks \"ref\"");
  CHECK(expect_error(kiwi::webhook::github::parse_push(read_fixture("github/create_tag.json"))) ==
        "\"ref\" is not refs/heads/<branch> or refs/tags/<tag>: \"simple-tag\"");
}

TEST_CASE("bad shas and foreign refs are rejected") {
  // Intent: after/before must be 40-hex; refs outside heads/tags are not pushes Kiwi builds.
  auto doc = fixture_json("github/push_branch.json");
  doc["after"] = "6113728f";
  CHECK(expect_error(kiwi::webhook::github::parse_push(doc.dump())) ==
        "\"after\" is not a 40-character commit sha");
  doc = fixture_json("gitlab/push_branch.json");
  doc["before"] = "zz790bf891e76fee5e1747ab589903a6a1f80f22";
  CHECK(expect_error(kiwi::webhook::gitlab::parse_push(doc.dump())) ==
        "\"before\" is not a 40-character commit sha");
  doc = fixture_json("gitlab/push_branch.json");
  doc["ref"] = "refs/heads/";
  CHECK(expect_error(kiwi::webhook::gitlab::parse_push(doc.dump())).starts_with("\"ref\" is not refs/heads/"));
  doc["ref"] = "refs/notes/commits";
  CHECK(expect_error(kiwi::webhook::gitlab::parse_push(doc.dump())).starts_with("\"ref\" is not refs/heads/"));
  doc["ref"] = "refs/notes/" + std::string(5000, 'x');
  CHECK(expect_error(kiwi::webhook::gitlab::parse_push(doc.dump())).size() < 200);  // echo is cut short
  doc = fixture_json("gitlab/push_branch.json");
  doc["object_kind"] = "merge_request";
  CHECK(expect_error(kiwi::webhook::gitlab::parse_push(doc.dump())) ==
        "\"object_kind\" is \"merge_request\", not \"push\" or \"tag_push\"");
}

TEST_CASE("fields of the wrong type produce an error, not an exception") {
  // Intent: each typed field, given a wrong type, yields a message naming it.
  struct mutation {
    const char* fixture;
    bool github;
    json::json_pointer where;
    json value;
    const char* error;
  };
  const mutation mutations[] = {
      {"github/push_branch.json", true, json::json_pointer("/ref"), 42, "\"ref\" is not a string"},
      {"github/push_branch.json", true, json::json_pointer("/after"), json::array(),
       "\"after\" is not a string"},
      {"github/push_branch.json", true, json::json_pointer("/deleted"), "no",
       "\"deleted\" is not a boolean"},
      {"github/push_branch.json", true, json::json_pointer("/commits"), json::object(),
       "\"commits\" is not an array"},
      {"github/push_branch.json", true, json::json_pointer("/commits/0"), "abc",
       "\"commits[0]\" is not an object"},
      {"github/push_branch.json", true, json::json_pointer("/commits/0/message"), 7,
       "\"commits[0].message\" is not a string"},
      {"github/push_branch.json", true, json::json_pointer("/head_commit"), "x",
       "\"head_commit\" is not an object"},
      {"github/push_branch.json", true, json::json_pointer("/head_commit/message"), true,
       "\"head_commit.message\" is not a string"},
      {"github/push_branch.json", true, json::json_pointer("/pusher/name"), 1.5,
       "\"pusher.name\" is not a string"},
      {"github/push_branch.json", true, json::json_pointer("/repository"), "r",
       "\"repository\" is not an object"},
      {"gitlab/push_branch.json", false, json::json_pointer("/object_kind"), 1,
       "\"object_kind\" is not a string"},
      {"gitlab/push_branch.json", false, json::json_pointer("/before"), false,
       "\"before\" is not a string"},
      {"gitlab/push_branch.json", false, json::json_pointer("/commits/1/id"), 3,
       "\"commits[1].id\" is not a string"},
      {"gitlab/push_branch.json", false, json::json_pointer("/total_commits_count"), "4",
       "\"total_commits_count\" is not a non-negative integer"},
      {"gitlab/push_branch.json", false, json::json_pointer("/total_commits_count"), -1,
       "\"total_commits_count\" is not a non-negative integer"},
      {"gitlab/push_branch.json", false, json::json_pointer("/user_username"), json::array(),
       "\"user_username\" is not a string"},
      {"gitlab/push_branch.json", false, json::json_pointer("/project/path_with_namespace"), 9,
       "\"project.path_with_namespace\" is not a string"},
  };
  for (const auto& m : mutations) {
    CAPTURE(m.where.to_string());
    auto doc = fixture_json(m.fixture);
    doc[m.where] = m.value;
    kiwi::webhook::push_parse_result result;
    REQUIRE_NOTHROW(result = m.github ? kiwi::webhook::github::parse_push(doc.dump())
                                     : kiwi::webhook::gitlab::parse_push(doc.dump()));
    CHECK(expect_error(result) == m.error);
  }
}
