#include "identity/key_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "identity/key_file.h"

namespace natpunch {

namespace {

std::string sys_error(const std::string& path, const char* what) {
  return "key file " + path + ": " + what + ": " + std::strerror(errno);
}

// The file descriptor closes on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<LoadedKey, std::string> create(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    auto dir = path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 && ::mkdir(dir.c_str(), 0700) != 0)
      return fail("key file " + path + ": cannot create its directory " + dir + ": " + std::strerror(errno));
  }
  // Written to a private temporary file, then linked into place: link() never replaces an existing
  // file, and another process never sees a half-written key (two agents starting at once).
  auto tmp = path + ".tmp." + std::to_string(::getpid());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return fail(sys_error(tmp, "cannot create"));
  auto key = DeviceKey::generate();
  auto text = format_key_file(key);
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n <= 0) {
      auto err = sys_error(tmp, "cannot write");
      ::unlink(tmp.c_str());
      return fail(err);
    }
    done += static_cast<std::size_t>(n);
  }
  std::fill(text.begin(), text.end(), '\0');
  if (::fsync(fd.get()) != 0) {
    auto err = sys_error(tmp, "cannot sync");
    ::unlink(tmp.c_str());
    return fail(err);
  }
  int linked = ::link(tmp.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked != 0 && link_errno == EEXIST) return load_key_file(path, false);  // someone else won: use theirs
  if (linked != 0) {
    errno = link_errno;
    return fail(sys_error(path, "cannot create"));
  }
  return LoadedKey{std::move(key), true};
}

}  // namespace

Result<LoadedKey, std::string> load_key_file(const std::string& path, bool create_if_missing) {
  if (path.empty()) return fail(std::string("key file: empty path"));
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT && create_if_missing) return create(path);
    if (errno == ENOENT) return fail("key file " + path + ": does not exist");
    return fail(sys_error(path, "cannot open"));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(sys_error(path, "cannot stat"));
  if (!S_ISREG(st.st_mode)) return fail("key file " + path + ": not a regular file");
  if ((st.st_mode & 077) != 0)
    return fail("key file " + path + ": readable or writable by others (mode " + std::to_string((st.st_mode >> 6) & 7) +
                std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) + "); run: chmod 600 " + path);
  if (st.st_size > static_cast<off_t>(kMaxKeyFileSize))
    return fail("key file " + path + ": " + std::string(to_string(KeyFileError::TooLarge)));
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    auto n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0) return fail(sys_error(path, "cannot read"));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  auto key = parse_key_file(text);
  std::fill(text.begin(), text.end(), '\0');
  if (!key) return fail("key file " + path + ": " + key.error().describe());
  return LoadedKey{std::move(key).value(), false};
}

std::string default_key_path() {
  if (const char* d = std::getenv("NATPUNCH_KEY_DIR"); d && *d) return std::string(d) + "/device.key";
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/natpunch/device.key";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/natpunch/device.key";
  return "natpunch-device.key";
}

}  // namespace natpunch
