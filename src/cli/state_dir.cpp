#include "cli/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace natpunch::cli {

namespace {

std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

bool set(const std::optional<std::string>& v) { return v && !v->empty(); }

std::string join(const std::string& dir, const char* name) { return dir.back() == '/' ? dir + name : dir + "/" + name; }

std::string sys_error(const std::string& dir, const std::string& what, int err) {
  return "state directory " + dir + ": " + what + ": " + std::strerror(err);
}

// mkdir with mode 0700; an existing directory is fine, anything else in the way is an error.
Result<bool, std::string> make_one(const std::string& dir, const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return true;
  int err = errno;
  struct stat st {};
  if (err == EEXIST && ::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return false;
    return fail("state directory " + dir + ": " + path + " exists and is not a directory");
  }
  return fail(sys_error(dir, "cannot create " + path, err));
}

}  // namespace

StateDirEnv process_state_dir_env() {
  return StateDirEnv{env_value("NATPUNCH_STATE_DIR"), env_value("XDG_STATE_HOME"), env_value("HOME"), ::geteuid() == 0};
}

std::optional<std::string> default_state_dir(const StateDirEnv& env) {
  if (set(env.natpunch_state_dir)) return *env.natpunch_state_dir;
  if (set(env.xdg_state_home) && env.xdg_state_home->front() == '/') return join(*env.xdg_state_home, "natpunch");
  if (env.root) return std::string("/var/lib/natpunch");
  if (set(env.home)) return join(*env.home, ".local/state/natpunch");
  return std::nullopt;
}

std::string device_key_path(const std::string& key_file_option, const std::string& state_dir_option,
                            const std::string& default_path) {
  if (!key_file_option.empty()) return key_file_option;
  if (!state_dir_option.empty()) return join(state_dir_option, "device.key");
  return default_path;
}

Result<bool, std::string> make_state_dir(const std::string& dir) {
  if (dir.empty()) return fail(std::string("state directory: empty path"));
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return false;
    return fail("state directory " + dir + ": exists and is not a directory");
  }
  // Each missing component from the top (a leading '/' and repeated ones name no component).
  bool created = false;
  for (std::size_t end = 1; end <= dir.size(); ++end) {
    if (end < dir.size() && dir[end] != '/') continue;
    if (dir[end - 1] == '/') continue;
    auto made = make_one(dir, dir.substr(0, end));
    if (!made) return made;
    created = *made;
  }
  return created;
}

StateDirLock::~StateDirLock() { release(); }

StateDirLock::StateDirLock(StateDirLock&& other) noexcept : fd_(other.fd_), dir_(std::move(other.dir_)) {
  other.fd_ = -1;
  other.dir_.clear();
}

StateDirLock& StateDirLock::operator=(StateDirLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    dir_ = std::move(other.dir_);
    other.fd_ = -1;
    other.dir_.clear();
  }
  return *this;
}

void StateDirLock::release() {
  if (fd_ >= 0) ::close(fd_);  // closing the last fd of the open file drops the flock
  fd_ = -1;
  dir_.clear();
}

Result<StateDirLock, std::string> StateDirLock::acquire(const std::string& dir) {
  auto path = join(dir, "lock");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int err = errno;
    return fail(sys_error(dir, "cannot open " + path, err));
  }
  StateDirLock lock(fd, dir);  // closes fd on the error paths below
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK)
      return fail("state directory " + dir +
                  " is in use by another device (lock held); give each device that runs at the same time "
                  "its own --state-dir");
    return fail(sys_error(dir, "cannot lock " + path, err));
  }
  return lock;
}

Result<StateDirLock, std::string> open_state_dir(const std::string& option, const StateDirEnv& env) {
  auto dir = option.empty() ? default_state_dir(env) : std::optional<std::string>(option);
  if (!dir) return StateDirLock{};
  auto made = make_state_dir(*dir);
  if (!made) return fail(made.error());
  // The default directory is shared by the devices one user runs at once (an agent and a connect);
  // a directory named with --state-dir belongs to one device and is locked for its run.
  if (option.empty()) return StateDirLock{};
  return StateDirLock::acquire(*dir);
}

}  // namespace natpunch::cli
