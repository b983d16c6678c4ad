// The device state directory (--state-dir): the default's resolution order from an injected
// environment, where the key goes, creation mode 0700 with parents, what is in the way, and the
// lock that keeps a second device (in this process or another) out while the first holds it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli/state_dir.h"

namespace natpunch::cli {
namespace {

StateDirEnv everything() { return StateDirEnv{"/srv/np", "/xdg/state", "/home/u", true}; }

TEST(CliStateDirDefault, NatpunchStateDirComesFirst) {
  EXPECT_EQ(default_state_dir(everything()), "/srv/np");
  auto env = everything();
  env.natpunch_state_dir = "relative/np";  // the user's own choice, taken as given
  EXPECT_EQ(default_state_dir(env), "relative/np");
}

TEST(CliStateDirDefault, ThenAnAbsoluteXdgStateHome) {
  auto env = everything();
  env.natpunch_state_dir.reset();
  EXPECT_EQ(default_state_dir(env), "/xdg/state/natpunch");
  env.xdg_state_home = "/xdg/state/";
  EXPECT_EQ(default_state_dir(env), "/xdg/state/natpunch");
}

TEST(CliStateDirDefault, ARelativeOrEmptyXdgStateHomeIsIgnored) {
  StateDirEnv env{std::nullopt, "rel/state", "/home/u", false};
  EXPECT_EQ(default_state_dir(env), "/home/u/.local/state/natpunch");
  env.xdg_state_home = "";
  EXPECT_EQ(default_state_dir(env), "/home/u/.local/state/natpunch");
  env.root = true;
  env.xdg_state_home = "rel/state";
  EXPECT_EQ(default_state_dir(env), "/var/lib/natpunch");
}

TEST(CliStateDirDefault, RootGetsVarLibBeforeHome) {
  StateDirEnv env{std::nullopt, std::nullopt, "/root", true};
  EXPECT_EQ(default_state_dir(env), "/var/lib/natpunch");
  env.home.reset();
  EXPECT_EQ(default_state_dir(env), "/var/lib/natpunch");
}

TEST(CliStateDirDefault, ThenHomeAndOtherwiseNone) {
  StateDirEnv env{std::nullopt, std::nullopt, "/home/u", false};
  EXPECT_EQ(default_state_dir(env), "/home/u/.local/state/natpunch");
  env.home.reset();
  EXPECT_EQ(default_state_dir(env), std::nullopt);
  env.home = "";
  env.natpunch_state_dir = "";  // empty counts as unset
  EXPECT_EQ(default_state_dir(env), std::nullopt);
}

TEST(CliStateDirKeyPath, OnlyAnExplicitStateDirMovesTheKey) {
  EXPECT_EQ(device_key_path("/k/mine.key", "/sd", "/default/device.key"), "/k/mine.key");
  EXPECT_EQ(device_key_path("/k/mine.key", "", "/default/device.key"), "/k/mine.key");
  EXPECT_EQ(device_key_path("", "/sd", "/default/device.key"), "/sd/device.key");
  EXPECT_EQ(device_key_path("", "/sd/", "/default/device.key"), "/sd/device.key");
  EXPECT_EQ(device_key_path("", "", "/default/device.key"), "/default/device.key");
}

class CliStateDirFs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/natpunch-statedir-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
    EXPECT_FALSE(std::filesystem::exists(tmp_));
  }
  static unsigned mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  void write_file(const std::string& path) { std::ofstream(path) << "not a directory\n"; }
  std::string tmp_;
};

TEST_F(CliStateDirFs, CreatesTheDirectoryAndItsParentsMode0700) {
  auto dir = tmp_ + "/a/b/natpunch";
  auto made = make_state_dir(dir);
  ASSERT_TRUE(made) << made.error();
  EXPECT_TRUE(*made);
  EXPECT_EQ(mode_of(tmp_ + "/a"), 0700u);
  EXPECT_EQ(mode_of(tmp_ + "/a/b"), 0700u);
  EXPECT_EQ(mode_of(dir), 0700u);
  auto again = make_state_dir(dir + "/");
  ASSERT_TRUE(again) << again.error();
  EXPECT_FALSE(*again);
}

TEST_F(CliStateDirFs, AnExistingDirectoryIsLeftAsItIs) {
  auto dir = tmp_ + "/shared";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  auto made = make_state_dir(dir);
  ASSERT_TRUE(made) << made.error();
  EXPECT_FALSE(*made);
  EXPECT_EQ(mode_of(dir), 0755u);
}

TEST_F(CliStateDirFs, AFileInTheWayIsAnError) {
  auto file = tmp_ + "/file";
  write_file(file);
  auto r = make_state_dir(file);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(file), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("not a directory"), std::string::npos) << r.error();
  auto below = make_state_dir(file + "/natpunch");  // a file as a parent
  ASSERT_FALSE(below);
  EXPECT_NE(below.error().find(file + " exists and is not a directory"), std::string::npos) << below.error();
  auto opened = open_state_dir(file, StateDirEnv{});
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("not a directory"), std::string::npos) << opened.error();
}

TEST_F(CliStateDirFs, ADirectoryThatCannotBeCreatedIsAnError) {
  auto r = make_state_dir("/proc/self/natpunch-state");  // procfs refuses mkdir, even to root
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("cannot create /proc/self/natpunch-state"), std::string::npos) << r.error();
  EXPECT_FALSE(make_state_dir(""));
  if (::geteuid() != 0) {  // root writes into a read-only directory anyway
    ASSERT_EQ(::chmod(tmp_.c_str(), 0500), 0);
    auto denied = make_state_dir(tmp_ + "/natpunch");
    ::chmod(tmp_.c_str(), 0700);
    ASSERT_FALSE(denied);
    EXPECT_NE(denied.error().find("cannot create"), std::string::npos) << denied.error();
  }
}

TEST_F(CliStateDirFs, ASecondLockFailsWhileTheFirstIsHeldAndSucceedsAfter) {
  auto first = StateDirLock::acquire(tmp_);
  ASSERT_TRUE(first) << first.error();
  EXPECT_TRUE(first->held());
  EXPECT_EQ(first->dir(), tmp_);
  EXPECT_EQ(mode_of(tmp_ + "/lock"), 0600u);

  auto second = StateDirLock::acquire(tmp_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find("state directory " + tmp_ + " is in use by another device (lock held)"),
            std::string::npos)
      << second.error();

  // Moved (as into Device / DeviceSetup), the lock stays held by its new owner.
  StateDirLock owner = std::move(*first);
  EXPECT_FALSE(first->held());
  EXPECT_TRUE(owner.held());
  EXPECT_FALSE(StateDirLock::acquire(tmp_));

  owner = StateDirLock{};  // released
  EXPECT_FALSE(owner.held());
  EXPECT_TRUE(std::filesystem::exists(tmp_ + "/lock"));  // the file stays; only the lock goes
  auto third = StateDirLock::acquire(tmp_);
  ASSERT_TRUE(third) << third.error();
  EXPECT_TRUE(third->held());
}

TEST_F(CliStateDirFs, AnotherProcessIsKeptOutUntilTheLockIsReleased) {
  auto try_in_child = [&] {
    pid_t pid = ::fork();
    if (pid == 0) _exit(StateDirLock::acquire(tmp_) ? 0 : 3);
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  {
    auto held = StateDirLock::acquire(tmp_);
    ASSERT_TRUE(held) << held.error();
    EXPECT_EQ(try_in_child(), 3);
  }
  EXPECT_EQ(try_in_child(), 0);
}

TEST_F(CliStateDirFs, OpenUsesTheOptionElseTheDefaultElseNothing) {
  auto from_env = tmp_ + "/env/natpunch";
  StateDirEnv env{from_env, std::nullopt, std::nullopt, false};
  {
    // The default is created but shared: an agent and a connect of one user run at once.
    auto opened = open_state_dir("", env);
    ASSERT_TRUE(opened) << opened.error();
    EXPECT_FALSE(opened->held());
    EXPECT_EQ(mode_of(from_env), 0700u);
    auto twice = open_state_dir("", env);
    ASSERT_TRUE(twice) << twice.error();
  }
  // A directory named with --state-dir is one device's: locked.
  auto option = tmp_ + "/explicit";
  auto chosen = open_state_dir(option, env);
  ASSERT_TRUE(chosen) << chosen.error();
  EXPECT_TRUE(chosen->held());
  EXPECT_EQ(chosen->dir(), option);
  EXPECT_TRUE(std::filesystem::exists(option + "/lock"));
  auto second = open_state_dir(option, env);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find(option), std::string::npos) << second.error();

  auto none = open_state_dir("", StateDirEnv{});  // no HOME: runs without one, no error
  ASSERT_TRUE(none) << none.error();
  EXPECT_FALSE(none->held());
  EXPECT_TRUE(none->dir().empty());
}

}  // namespace
}  // namespace natpunch::cli
