#include <doctest/doctest.h>

#include "common/security/secret_box.hpp"
#include "git_servers.hpp"

using kiwi::secret_box;

namespace {
secret_box box_with(char fill) { return secret_box(std::string(32, fill)); }
}  // namespace

TEST_CASE("sealed secrets open with the same key and context only") {
  auto box = box_with('k');
  const std::string token = "glpat-very-secret-token-value";
  auto sealed = box.seal(token, "service/user-api/token");
  CHECK(secret_box::is_sealed(sealed));
  CHECK(sealed.find(token) == std::string::npos);
  CHECK(sealed.find("glpat") == std::string::npos);
  CHECK(box.open(sealed, "service/user-api/token") == token);
  // A fresh nonce each time: sealing twice never gives the same text.
  CHECK(box.seal(token, "service/user-api/token") != sealed);
  // Bound to its field: copied elsewhere it does not open.
  CHECK_FALSE(box.open(sealed, "service/other/token").has_value());
  // Another key does not open it, and says which key sealed it.
  CHECK_FALSE(box_with('x').open(sealed, "service/user-api/token").has_value());
  CHECK(secret_box::key_id_of(sealed) == box.key_id());
  CHECK(box.key_id() != box_with('x').key_id());
  // Tampering with any byte is detected.
  std::string tampered = sealed;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  CHECK_FALSE(box.open(tampered, "service/user-api/token").has_value());
  CHECK_FALSE(box.open("plain text", "service/user-api/token").has_value());
  CHECK(box.open(box.seal("", "c"), "c") == std::string());
}

TEST_CASE("the key file holds 64 hex digits; errors say how to make one") {
  kiwi::test::temp_dir dir;
  auto good = dir.path() / "key";
  const std::string hex = secret_box::generate_key_hex();
  REQUIRE(hex.size() == 64);
  kiwi::test::write_file(good, hex + "\n");
  auto box = secret_box::from_key_file(good);
  CHECK(box.open(box.seal("x", "c"), "c") == std::string("x"));
  CHECK(secret_box::from_key_file(good).key_id() == box.key_id());

  auto bad = dir.path() / "bad";
  kiwi::test::write_file(bad, "not-a-key");
  try {
    secret_box::from_key_file(bad);
    FAIL("a malformed key file was accepted");
  } catch (const kiwi::secret_key_error& e) {
    CHECK(std::string(e.what()).find("64 hex digits") != std::string::npos);
    CHECK(std::string(e.what()).find("not-a-key") == std::string::npos);
  }
  try {
    secret_box::from_key_file(dir.path() / "missing");
    FAIL("a missing key file was accepted");
  } catch (const kiwi::secret_key_error& e) {
    CHECK(std::string(e.what()).find("openssl rand -hex 32") != std::string::npos);
  }
}

TEST_CASE("a private file is created once with mode 0600, then read back") {
  kiwi::test::temp_dir dir;
  auto file = dir.path() / "sub" / "secrets.key";
  int made = 0;
  auto make = [&] {
    ++made;
    return std::string("first-content");
  };
  CHECK(kiwi::read_or_create_private_file(file, make) == "first-content");
  CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  auto other = [] { return std::string("second-content"); };
  CHECK(kiwi::read_or_create_private_file(file, other) == "first-content");
  CHECK(made == 1);
}
