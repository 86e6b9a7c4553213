#include "common/queue/queue_scripts.hpp"

#include "common/queue/build_event.hpp"
#include "common/queue/lua_scripts.hpp"  // generated from lua/*.lua
#include "common/redis/redis_keys.hpp"

namespace kiwi {
namespace {

// Shared by every script. Keys are built from P (keys::prefix, hash tag {q}): every key lives
// in one Redis Cluster slot. The scheduler's per-service keys are named at run time (the claim
// script learns the services from the ring), which Redis allows for keys of the script's slot.
std::string prelude() {
  return "local P = '" + std::string(keys::prefix) + "'\n" + std::string(lua::prelude);
}

lua_script make_script(std::string_view body, std::string_view library = {}) {
  return lua_script(prelude() + std::string(library) + std::string(body));
}

}  // namespace

std::string queue_script_prelude() { return prelude(); }

namespace queue_scripts {

const lua_script enqueue = make_script(lua::enqueue);
const lua_script claim = make_script(lua::claim);
const lua_script heartbeat = make_script(lua::heartbeat);
const lua_script record = make_script(lua::record);
const lua_script finish = make_script(lua::finish, lua::retention);
const lua_script release = make_script(lua::release);
const lua_script cancel = make_script(lua::cancel);
const lua_script requeue_dead = make_script(lua::requeue_dead);
const lua_script prune = make_script(lua::prune, lua::retention);
const lua_script deploy_create = make_script(lua::deploy_create);
const lua_script deploy_lock = make_script(lua::deploy_lock);

std::string now_millis_text() {
  return std::to_string(unix_millis(std::chrono::system_clock::now()));
}

void append_fields(std::vector<std::string>& args, const field_list& fields) {
  args.reserve(args.size() + 2 * fields.size());
  for (const auto& [f, v] : fields) {
    args.push_back(f);
    args.push_back(v);
  }
}

}  // namespace queue_scripts
}  // namespace kiwi
