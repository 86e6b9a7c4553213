#pragma once
// How run_child starts a program: argv[0] looked up in the child's own PATH, stdin on
// /dev/null, stdout and stderr on `out_fd`, nothing else of the worker's open (sockets, Redis
// connections), default signal handling, in a session (and process group) of its own.
// (environment_subset and set_environment, declared in child_process.hpp, live here too.)

#include <sys/types.h>

#include <string>

#include "common/base/child_process.hpp"

namespace kiwi {

// The program's pid (also its process group id), or -1 with `error` saying why it could not
// start.
pid_t spawn_in_session(const child_request& request, int out_fd, std::string& error);

}  // namespace kiwi
