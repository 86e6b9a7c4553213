// Deployment revisions against a real redis-server: numbered per (service, environment), listed
// newest first, secret_env sealed at rest, bounded per environment with their builds protected
// from retention while referenced, and the per-environment deploy lock.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/queue/deployment_store.hpp"
#include "common/redis/redis_keys.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;

namespace {

kiwi::deployment_revision revision(const std::string& env, const std::string& build) {
  kiwi::deployment_revision d;
  d.service = "user-api";
  d.environment = env;
  d.build_id = build;
  d.image = "registry.local:5000/team/user-api@sha256:" + std::string(64, 'a');
  d.config.name = env;
  d.config.runtime = "local-docker";
  d.config.secret_env = {{"DB_PASSWORD", "s3cret-value"}};
  d.trigger = "push";
  return d;
}

// A store with a secrets key on a private Redis; create() returns the stored revision.
struct store_fixture : kiwi::test::redis_fixture {
  explicit store_fixture(unsigned keep = kiwi::deployment_store::default_keep)
      : store(redis, &box, 2s, keep) {}
  kiwi::deployment_revision create(const std::string& env, const std::string& build) {
    auto [ec, d] = run(store.create(revision(env, build)));
    REQUIRE(!ec);
    return d;
  }
  kiwi::secret_box box{std::string(32, 'k')};
  kiwi::deployment_store store;
};

}  // namespace

TEST_CASE("revisions are numbered per environment and listed newest first") {
  store_fixture f;
  auto& store = f.store;
  const auto r1 = f.create("development", "b1");
  const auto r2 = f.create("development", "b2");
  const auto p1 = f.create("production", "b1");
  CHECK(r1.revision == 1);
  CHECK(r2.revision == 2);
  CHECK(p1.revision == 1);  // its own count
  auto [el, dev] = f.run(store.list("user-api", "development"));
  REQUIRE(dev.size() == 2);
  CHECK(dev[0].id == r2.id);
  CHECK(dev[1].id == r1.id);
  CHECK(dev[0].status == "queued");
  CHECK(dev[0].config.secret_env[0].second == "s3cret-value");  // opened with the key
  CHECK(nlohmann::json(kiwi::to_json(dev[0])).dump().find("s3cret-value") == std::string::npos);
  // Redis holds it sealed only.
  const auto raw = f.command(kiwi::redis_args("HGET", kiwi::keys::deployment(r1.id), "config"));
  CHECK(raw.str.find("s3cret-value") == std::string::npos);
  CHECK(raw.str.find("kiwi-secret:v1:") != std::string::npos);
  // Both builds are protected from retention.
  CHECK(f.command(kiwi::redis_args("SISMEMBER", kiwi::keys::service_protected_builds("user-api"),
                                   "b2"))
            .integer == 1);
}

TEST_CASE("status changes stamp times and last_succeeded skips failed revisions") {
  store_fixture f;
  auto& store = f.store;
  const auto r1 = f.create("development", "b1");
  const auto r2 = f.create("development", "b2");
  const auto r3 = f.create("development", "b3");
  CHECK(f.run(store.set_status(r1.id, "running", "deploying")).second);
  CHECK(f.run(store.set_status(r1.id, "succeeded", "1/1 running", {}, "http://127.0.0.1:1/"))
            .second);
  CHECK(f.run(store.set_status(r2.id, "failed", "exited", {"exit code 1", "last log lines"}))
            .second);
  CHECK(f.run(store.set_status(r3.id, "succeeded", "1/1 running")).second);
  CHECK_FALSE(f.run(store.set_status("nope", "failed", "x")).second);
  auto [eg, got] = f.run(store.get(r1.id));
  REQUIRE(got);
  CHECK(got->status == "succeeded");
  CHECK(got->started_at.has_value());
  CHECK(got->finished_at.has_value());
  CHECK(got->url == "http://127.0.0.1:1/");
  auto [ef, failed] = f.run(store.get(r2.id));
  CHECK(failed->diagnostics == std::vector<std::string>{"exit code 1", "last log lines"});
  // The newest success, and the last success before revision 3 (revision 2 failed).
  CHECK(f.run(store.last_succeeded("user-api", "development")).second->id == r3.id);
  CHECK(f.run(store.last_succeeded("user-api", "development", 3)).second->id == r1.id);
  CHECK_FALSE(f.run(store.last_succeeded("user-api", "development", 1)).second);
}

TEST_CASE("only the newest revisions are kept, and their builds stay protected") {
  store_fixture f(2);
  auto& store = f.store;
  const auto r1 = f.create("development", "b1");
  f.create("development", "b1");  // b1 referenced twice
  f.create("development", "b2");
  const auto protected_key = kiwi::keys::service_protected_builds("user-api");
  auto [el, kept] = f.run(store.list("user-api", "development"));
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].revision == 3);
  CHECK_FALSE(f.run(store.get(r1.id)).second);  // the oldest is gone
  CHECK(f.command(kiwi::redis_args("SISMEMBER", protected_key, "b1")).integer == 1);  // still used
  f.create("development", "b2");
  CHECK(f.command(kiwi::redis_args("SISMEMBER", protected_key, "b1")).integer == 0);
  CHECK(f.command(kiwi::redis_args("SISMEMBER", protected_key, "b2")).integer == 1);
}

TEST_CASE("the deploy lock admits one deployment per environment") {
  kiwi::test::redis_fixture f;
  kiwi::deployment_store store(f.redis, nullptr, 2s);
  CHECK(f.run(store.acquire("user-api", "production", "d1", 60s)).second);
  CHECK_FALSE(f.run(store.acquire("user-api", "production", "d2", 60s)).second);  // waits
  CHECK(f.run(store.acquire("user-api", "development", "d2", 60s)).second);  // other env
  CHECK(f.run(store.acquire("user-api", "production", "d1", 60s)).second);   // reclaimed: own
  CHECK(f.run(store.renew("user-api", "production", "d1", 60s)).second);
  CHECK_FALSE(f.run(store.renew("user-api", "production", "d2", 60s)).second);
  CHECK_FALSE(f.run(store.release("user-api", "production", "d2")).second);
  CHECK(f.run(store.release("user-api", "production", "d1")).second);
  CHECK(f.run(store.acquire("user-api", "production", "d2", 60s)).second);
  // A lock whose holder died expires with its lease.
  CHECK(f.run(store.acquire("user-api", "staging", "d3", 1ms)).second);
  f.command(kiwi::redis_args("PEXPIRE", kiwi::keys::deploy_lock("user-api", "staging"), "0"));
  CHECK(f.run(store.acquire("user-api", "staging", "d4", 60s)).second);
}

TEST_CASE("a config with secret_env is not stored without a secrets key") {
  kiwi::test::redis_fixture f;
  kiwi::deployment_store store(f.redis, nullptr, 2s);
  CHECK_THROWS_WITH_AS(f.run(store.create(revision("development", "b1"))),
                       doctest::Contains("secrets_key_file"), std::runtime_error);
}
