#include <doctest/doctest.h>

#include "common/security/redact.hpp"
#include "common/security/crypto.hpp"

using kiwi::redactor;

// The secret itself is masked wherever it appears.
TEST_CASE("redact: the secret itself") {
  redactor r;
  r.add("s3cr3t-token");
  CHECK(r.redact("token=s3cr3t-token and again s3cr3t-token.") == "token=*** and again ***.");
  CHECK(r.redact("nothing to hide") == "nothing to hide");
}

// Its base64 form, padded or not.
TEST_CASE("redact: base64") {
  redactor r;
  r.add("hunter22");  // base64 "aHVudGVyMjI=" (padded)
  CHECK(kiwi::base64_encode("hunter22") == "aHVudGVyMjI=");
  CHECK(r.redact("x aHVudGVyMjI= y") == "x *** y");
  CHECK(r.redact("x aHVudGVyMjI y") == "x *** y");
}

// Its URL encoding (upper- and lower-case hex), as in credentials inside URLs.
TEST_CASE("redact: URL encoding") {
  redactor r;
  r.add("p@ss/w:rd?&");
  CHECK(r.redact("https://u:p%40ss%2Fw%3Ard%3F%26@host/x") == "https://u:***@host/x");
  CHECK(r.redact("https://u:p%40ss%2fw%3ard%3f%26@host/x") == "https://u:***@host/x");
}

// With a user: base64 of "user:secret", the Basic auth / registry auth form.
TEST_CASE("redact: user:secret in base64") {
  redactor r;
  r.add("registry-pass", "robot$ci");
  const std::string basic = kiwi::base64_encode("robot$ci:registry-pass");
  CHECK(r.redact("Authorization: Basic " + basic) == "Authorization: Basic ***");
  CHECK(r.redact("{\"auths\":{\"h\":{\"auth\":\"" + basic + "\"}}}") ==
        "{\"auths\":{\"h\":{\"auth\":\"***\"}}}");
}

// A token inside a clone URL is masked, the rest of the URL kept.
TEST_CASE("redact: a token inside a URL") {
  redactor r;
  r.add("ghp_R4nd0mT0k3nV4lu3");
  CHECK(r.redact("fatal: unable to access "
                 "'https://x-access-token:ghp_R4nd0mT0k3nV4lu3@github.com/org/repo.git/'") ==
        "fatal: unable to access 'https://x-access-token:***@github.com/org/repo.git/'");
}

// Secrets shorter than 4 characters are ignored (masking them would garble every line).
TEST_CASE("redact: short secrets are ignored") {
  redactor r;
  r.add("");
  r.add("abc");
  CHECK(r.empty());
  CHECK(r.redact("abc abc") == "abc abc");
  r.add("abcd");
  CHECK(r.redact("abc abcd") == "abc ***");
}

// Overlapping secrets: the longest match wins, in one mask.
TEST_CASE("redact: longest first") {
  redactor r;
  r.add("abcd");
  r.add("abcdefgh");
  CHECK(r.needles().front().size() >= r.needles().back().size());
  CHECK(r.redact("xabcdefghx abcdx") == "x***x ***x");
}

// A multi-line secret (a PEM key) is masked line by line, since logs arrive as lines.
TEST_CASE("redact: multi-line secrets") {
  redactor r;
  r.add("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\r\n-----END KEY-----\n");
  CHECK(r.redact("key line: MIIEvQIBADANBgkqhkiG9w0B") == "key line: ***");
}
