// Reading and creating the device key file. A missing file is created (mode 0600, its directory
// 0700 when that is missing too) only when asked; an existing file is never overwritten. A file
// that others can read, that is not a regular file, or that does not parse is refused with an
// error naming the file and the problem.
#pragma once

#include <string>

#include "identity/device_key.h"
#include "wire/result.h"

namespace natpunch {

struct LoadedKey {
  DeviceKey key;
  bool created = false;  // true when this call wrote a new key file
};

// `create_if_missing`: write a fresh key when `path` does not exist.
Result<LoadedKey, std::string> load_key_file(const std::string& path, bool create_if_missing);

// The default key file: $NATPUNCH_KEY_DIR/device.key, else $XDG_CONFIG_HOME/natpunch/device.key,
// else $HOME/.config/natpunch/device.key.
std::string default_key_path();

}  // namespace natpunch
