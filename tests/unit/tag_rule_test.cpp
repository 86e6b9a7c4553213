// Tag rules: each variable renders a build's value, the result is always a valid Docker tag, and
// a rule that cannot give one is an error rather than a bad push.

#include <doctest/doctest.h>

#include <chrono>

#include "common/build/tag_rule.hpp"

namespace {

using namespace std::chrono;

// 2025-01-14T09:30:05Z
const system_clock::time_point build_time = sys_days(year(2025) / January / 14) + hours(9) +
                                            minutes(30) + seconds(5);

kiwi::tag_values branch_build() {
  kiwi::tag_values v;
  v.branch = "main";
  v.sha = "9fceb02d0ae598e95dc970b74767f19372d61af8";
  v.service = "user-api";
  v.build_number = 42;
  v.time = build_time;
  return v;
}

std::string tag(std::string_view rule, const kiwi::tag_values& v = branch_build()) {
  auto out = kiwi::render_tag(rule, v);
  if (auto* e = std::get_if<kiwi::tag_error>(&out)) {
    FAIL(e->message);
  }
  return std::get<std::string>(out);
}

std::string error(std::string_view rule, const kiwi::tag_values& v = branch_build()) {
  auto out = kiwi::render_tag(rule, v);
  REQUIRE(std::holds_alternative<kiwi::tag_error>(out));
  return std::get<kiwi::tag_error>(out).message;
}

}  // namespace

TEST_CASE("tag rule: each variable") {
  CHECK(tag("${BRANCH}") == "main");
  CHECK(tag("${SHORT_SHA}") == "9fceb02");
  CHECK(tag("${SHA}") == "9fceb02d0ae598e95dc970b74767f19372d61af8");
  CHECK(tag("${SERVICE}") == "user-api");
  CHECK(tag("${BUILD_NUMBER}") == "42");
  CHECK(tag("${TIMESTAMP}") == "20250114T093005Z");
  CHECK(tag("${BRANCH}-${SHORT_SHA}") == "main-9fceb02");  // the default rule
  CHECK(tag("v${BUILD_NUMBER}.${TIMESTAMP}") == "v42.20250114T093005Z");
  auto release = branch_build();
  release.branch.clear();
  release.tag = "v1.2.0";
  CHECK(tag("${TAG}", release) == "v1.2.0");
  CHECK(kiwi::tag_timestamp(build_time) == "20250114T093005Z");
  // Sortable: a later build sorts after an earlier one.
  CHECK(kiwi::tag_timestamp(build_time + hours(20)) > kiwi::tag_timestamp(build_time));
}

TEST_CASE("tag rule: empty variables render as nothing, an empty tag is an error") {
  auto release = branch_build();
  release.branch.clear();
  release.tag = "v1.2.0";
  // The default rule on a tag build: the separator left dangling is dropped.
  CHECK(tag("${BRANCH}-${SHORT_SHA}", release) == "9fceb02");
  CHECK(tag("${BRANCH}${TAG}", release) == "v1.2.0");
  CHECK(tag("${BRANCH}${TAG}") == "main");
  CHECK(tag("${BRANCH}-${TAG}") == "main");
  const std::string e = error("${TAG}");
  CHECK(e.starts_with("tag_rule: \"${TAG}\" gives an empty tag"));
  auto unnumbered = branch_build();
  unnumbered.build_number.reset();
  CHECK(error("${BUILD_NUMBER}", unnumbered).find("empty tag") != std::string::npos);
  CHECK(error("--${TAG}..", unnumbered).find("empty tag") != std::string::npos);
}

TEST_CASE("tag rule: results are sanitized into valid Docker tags") {
  auto v = branch_build();
  v.branch = "feature/login";
  CHECK(tag("${BRANCH}-${SHORT_SHA}", v) == "feature-login-9fceb02");
  v.branch = "fix/#12 naïve spaces";
  CHECK(tag("${BRANCH}", v) == "fix--12-na--ve-spaces");  // 'ï' is two bytes
  v.branch = "-.-dots.and-dashes.-";
  CHECK(tag("${BRANCH}", v) == "dots.and-dashes");
  v.branch = "_private";
  CHECK(tag("${BRANCH}", v) == "_private");
  CHECK(tag("release@${BUILD_NUMBER}") == "release-42");
  CHECK(kiwi::is_valid_tag(tag("${BRANCH}", v)));

  CHECK(kiwi::is_valid_tag("v1.2.0"));
  CHECK(kiwi::is_valid_tag("_x"));
  CHECK_FALSE(kiwi::is_valid_tag(""));
  CHECK_FALSE(kiwi::is_valid_tag("-x"));
  CHECK_FALSE(kiwi::is_valid_tag(".x"));
  CHECK_FALSE(kiwi::is_valid_tag("a/b"));
  CHECK_FALSE(kiwi::is_valid_tag(std::string(129, 'a')));
  CHECK(kiwi::is_valid_tag(std::string(128, 'a')));
}

TEST_CASE("tag rule: at most 128 characters, and long names sharing a prefix stay distinct") {
  auto v = branch_build();
  v.branch = std::string(200, 'b');
  const std::string long_a = tag("${BRANCH}-${SHORT_SHA}", v);
  CHECK(long_a.size() == 128);
  CHECK(kiwi::is_valid_tag(long_a));
  CHECK(long_a.starts_with(std::string(119, 'b') + "-"));
  v.sha = "0000000d0ae598e95dc970b74767f19372d61af8";
  const std::string long_b = tag("${BRANCH}-${SHORT_SHA}", v);
  CHECK(long_b.size() == 128);
  CHECK(long_a != long_b);
  CHECK(tag("${BRANCH}-${SHORT_SHA}", v) == long_b);  // deterministic
  // Exactly 128 is kept as is.
  v.branch = std::string(120, 'c');
  CHECK(tag("${BRANCH}-${SHORT_SHA}", v) == std::string(120, 'c') + "-0000000");
  // A cut that ends on a separator does not leave it before the hash.
  const std::string cut = kiwi::sanitize_tag(std::string(118, 'd') + "-" + std::string(50, 'e'));
  CHECK(cut.size() == 127);
  CHECK(cut.find("--") == std::string::npos);
  CHECK(kiwi::is_valid_tag(cut));
}

TEST_CASE("tag rule: unknown or malformed variables are rejected") {
  CHECK(error("${BRANCH}-${COMMIT}").find("unknown variable ${COMMIT}") != std::string::npos);
  CHECK(error("${branch}").find("unknown variable ${branch}") != std::string::npos);
  CHECK(error("v$1").find("'$'") != std::string::npos);
  CHECK(error("${SHA").find("closing") != std::string::npos);
  CHECK(error("").find("must not be empty") != std::string::npos);
  CHECK(kiwi::check_tag_rule("${SERVICE}-${BUILD_NUMBER}-${TIMESTAMP}-${SHA}-${TAG}").empty());
}
