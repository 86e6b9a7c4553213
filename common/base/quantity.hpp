#pragma once
// Kubernetes resource quantities ("500m", "1.5", "512Mi", "1G", "129e6"), as environments give
// their resources (docs/deploy.md). Pure: the Docker deployer turns limits into NanoCpus and
// Memory with them, and config validation can refuse a quantity that is not one.

#include <cstdint>
#include <optional>
#include <string_view>

namespace kiwi {

// CPU in billionths of a core (Docker's NanoCpus): "500m" -> 500000000, "1.5" -> 1500000000,
// "2" -> 2000000000. nullopt for anything that is not a non-negative quantity, and for one
// finer than a nanocore or over a million cores.
std::optional<std::int64_t> cpu_nanos(std::string_view quantity);

// Memory in bytes: binary suffixes Ki Mi Gi Ti Pi Ei, decimal k M G T P E, an exponent (e3),
// or none ("512Mi" -> 536870912, "1G" -> 1000000000). Fractions round up to a whole byte.
// nullopt for anything that is not a non-negative quantity, or one over 2^62 bytes.
std::optional<std::int64_t> memory_bytes(std::string_view quantity);

}  // namespace kiwi
