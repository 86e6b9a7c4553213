#include "common/queue/build_id.hpp"

#include <random>

namespace kiwi {
namespace {
constexpr char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
}  // namespace

std::string new_build_id(std::chrono::system_clock::time_point at, unsigned __int128 random80) {
  auto ms = static_cast<unsigned __int128>(
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
  unsigned __int128 mask80 = (static_cast<unsigned __int128>(1) << 80) - 1;
  unsigned __int128 value = ((ms & 0xffffffffffffULL) << 80) | (random80 & mask80);
  std::string id(26, '0');
  for (int i = 25; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = alphabet[static_cast<unsigned>(value & 31)];
    value >>= 5;
  }
  return id;
}

std::optional<std::chrono::system_clock::time_point> build_id_time(std::string_view id) {
  if (id.size() != 26) {
    return std::nullopt;
  }
  unsigned long long ms = 0;  // the first 10 characters: 50 bits, of which the low 48 count
  for (std::size_t i = 0; i < 10; ++i) {
    const char* at = std::char_traits<char>::find(alphabet, 32, id[i]);
    if (at == nullptr) {
      return std::nullopt;
    }
    ms = (ms << 5) | static_cast<unsigned long long>(at - alphabet);
  }
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms & 0xffffffffffffULL));
}

std::string new_build_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  unsigned __int128 r = (static_cast<unsigned __int128>(rng()) << 64) | rng();
  return new_build_id(std::chrono::system_clock::now(), r);
}

}  // namespace kiwi
