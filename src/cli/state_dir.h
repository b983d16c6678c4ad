// The device's state directory (--state-dir, docs/cli.md "Device options"): where it is, creating
// it, and the lock that keeps a second device out of it for the whole run of the first.
#pragma once

#include <optional>
#include <string>

#include "wire/result.h"

namespace natpunch::cli {

// What the default state directory depends on, read once from the process (or set by a test).
// An empty variable counts as unset.
struct StateDirEnv {
  std::optional<std::string> natpunch_state_dir;  // $NATPUNCH_STATE_DIR
  std::optional<std::string> xdg_state_home;      // $XDG_STATE_HOME
  std::optional<std::string> home;                // $HOME
  bool root = false;                              // effective uid 0
};
StateDirEnv process_state_dir_env();

// $NATPUNCH_STATE_DIR, else $XDG_STATE_HOME/natpunch (absolute only: the XDG base directory spec
// says a relative path is invalid and ignored), else /var/lib/natpunch as root, else
// $HOME/.local/state/natpunch; nullopt when none applies (no HOME): the device runs without one.
std::optional<std::string> default_state_dir(const StateDirEnv& env);

// The key file: --key-file, else DIR/device.key when --state-dir was given on the command line,
// else `default_path` (default_key_path()). The default state directory never moves the key.
std::string device_key_path(const std::string& key_file_option, const std::string& state_dir_option,
                            const std::string& default_path);

// Creates `dir` and its missing parents, each mode 0700; an existing directory is left as it is.
// True when this call created `dir`. An error (naming the path) when something that is not a
// directory is in the way or mkdir fails.
Result<bool, std::string> make_state_dir(const std::string& dir);

// An exclusive, non-blocking flock on DIR/lock (created mode 0600), held while this object lives:
// two devices never share one state directory. The lock file stays; only the lock goes with the fd.
// A default-constructed one holds nothing (a device without a state directory).
class StateDirLock {
 public:
  StateDirLock() = default;
  ~StateDirLock();
  StateDirLock(StateDirLock&& other) noexcept;
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

  // Fails at once (never waits) when another open file holds the lock, in this process or another.
  static Result<StateDirLock, std::string> acquire(const std::string& dir);

  bool held() const { return fd_ >= 0; }
  const std::string& dir() const { return dir_; }  // empty when none is held

 private:
  StateDirLock(int fd, std::string dir) : fd_(fd), dir_(std::move(dir)) {}
  void release();

  int fd_ = -1;
  std::string dir_;
};

// What a device does with its options: --state-dir (`option`, empty when not given), created and
// locked; or the default, created and not locked (the devices one user runs at once share it).
// Without either (no HOME), a lock that holds nothing and no error.
Result<StateDirLock, std::string> open_state_dir(const std::string& option, const StateDirEnv& env);

}  // namespace natpunch::cli
