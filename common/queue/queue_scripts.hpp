#pragma once
// The queue's Lua scripts (lua/*.lua, each after prelude.lua) and the argument helpers the
// job_queue files share. Internal to the queue library.

#include <string>
#include <vector>

#include "common/queue/job_queue.hpp"
#include "common/redis/redis_client.hpp"

namespace kiwi::queue_scripts {

extern const lua_script enqueue;       // lua/enqueue.lua
extern const lua_script claim;         // lua/claim.lua
extern const lua_script heartbeat;     // lua/heartbeat.lua
extern const lua_script record;        // lua/record.lua
extern const lua_script finish;        // lua/retention.lua + lua/finish.lua
extern const lua_script release;       // lua/release.lua
extern const lua_script cancel;        // lua/cancel.lua
extern const lua_script requeue_dead;  // lua/requeue_dead.lua
extern const lua_script prune;         // lua/retention.lua + lua/prune.lua
extern const lua_script deploy_create;  // lua/deploy_create.lua (deployment_store)
extern const lua_script deploy_lock;    // lua/deploy_lock.lua (deployment_store)

std::string now_millis_text();
void append_fields(std::vector<std::string>& args, const field_list& fields);

}  // namespace kiwi::queue_scripts
