#pragma once
// How a failed step is classified, shared by every stage and the retry policy.

namespace kiwi {

// Transient: the same try may well work later (network errors, timeouts, a 5xx from a git
// server or registry). Permanent: it will fail again until a person changes something
// (authentication, repository or commit not found, a Dockerfile error).
enum class failure_kind { transient, permanent };

}  // namespace kiwi
