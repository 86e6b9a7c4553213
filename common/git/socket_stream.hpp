#pragma once
// Inside the git library only. Kiwi's libgit2 socket stream (socket_stream.cpp), which obeys the
// deadline and cancel flag of the thread's transfer_scope, and the scope state it shares with
// git.cpp: whether the current transfer must stop, and why it failed.

#include <string>

#include <git2/sys/stream.h>

#include "common/git/git.hpp"

namespace kiwi::git::detail {

// libgit2's standard (socket) stream, registered by ensure_initialised.
int socket_stream_init(git_stream** out, const char* host, const char* port);

// The state of this thread's innermost transfer_scope, or null outside one.
transfer_scope::state* current_transfer();

// Records why the current transfer failed; keeps the first cause: later failures are
// consequences of it.
void record_cause(error_kind kind, std::string detail);

enum class limit { none, timed_out, cancelled };

// Whether the current transfer was cancelled or is past its deadline.
limit limit_reached();

}  // namespace kiwi::git::detail
