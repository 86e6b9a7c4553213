#pragma once
// data_dir holds mirrors of private repositories, build workspaces, image layers and secrets:
// only Kiwi's own user may enter it. Every directory Kiwi keeps there is made (or, when it
// exists, set to) mode 0700 and every file Kiwi writes there 0600, whatever the umask. Inside a
// workspace the checkout keeps git's modes (0644/0755): they become the image's file modes,
// and the 0700 directories above keep them private.

#include <filesystem>
#include <string_view>

namespace kiwi {

// Creates dir (and missing parents) and sets dir itself to 0700. Throws
// std::filesystem::filesystem_error.
void make_private_directory(const std::filesystem::path& dir);

// Replaces file with content, mode 0600, through a temporary file beside it. Throws
// std::runtime_error.
void write_private_file(const std::filesystem::path& file, std::string_view content);

}  // namespace kiwi
