#pragma once
// The Redis protocol (RESP) as redis_client speaks it: commands encoded into one buffer each,
// and hiredis' parsed replies copied into redis_value. (lua_script's SHA1 name, which EVALSHA
// sends, is worked out here too.)

#include <string>
#include <string_view>
#include <vector>

#include "common/redis/redis_value.hpp"

struct redisReply;

namespace kiwi {

// A command's arguments as one RESP array of bulk strings.
std::string format_command(const std::vector<std::string>& args);

// EVALSHA sha1 / EVAL source (`head`), then the key count, the keys and the arguments, without
// first concatenating them into one argument vector.
std::string format_eval(std::string_view verb, std::string_view head,
                        const std::vector<std::string>& keys,
                        const std::vector<std::string>& args);

// A reply parsed by hiredis' redisReader, copied out (its replies are freed by the caller).
redis_value copy_reply(const redisReply* r);

}  // namespace kiwi
