// Device identity: Ed25519 signatures, the key file's format (every named error), and the store's
// promises — created 0600, never overwritten, refused when others can read it or it is malformed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "identity/authorized_keys.h"
#include "identity/device_key.h"
#include "identity/key_file.h"
#include "identity/key_store.h"

namespace natpunch {
namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(DeviceKey, SignsAndVerifiesAndRejectsTampering) {
  auto k = DeviceKey::generate();
  auto sig = k.sign(bytes("register alice"));
  EXPECT_TRUE(verify_signature(k.public_key(), bytes("register alice"), sig));
  EXPECT_FALSE(verify_signature(k.public_key(), bytes("register mallory"), sig));
  auto other = DeviceKey::generate();
  EXPECT_FALSE(verify_signature(other.public_key(), bytes("register alice"), sig));
  sig[0] ^= std::byte{1};
  EXPECT_FALSE(verify_signature(k.public_key(), bytes("register alice"), sig));
}

TEST(DeviceKey, SeedDeterminesTheKeyAndHexRoundTrips) {
  std::array<std::byte, kSeedSize> seed{};
  seed[0] = std::byte{7};
  auto a = DeviceKey::from_seed(seed), b = DeviceKey::from_seed(seed);
  EXPECT_EQ(a.public_key(), b.public_key());
  EXPECT_EQ(public_key_from_hex(to_hex(a.public_key())), a.public_key());
  EXPECT_FALSE(public_key_from_hex("zz"));
  EXPECT_FALSE(public_key_from_hex(std::string(64, 'g')));
}

TEST(KeyFile, RoundTripsThroughItsTextForm) {
  auto k = DeviceKey::generate();
  auto text = format_key_file(k);
  auto back = parse_key_file(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->public_key(), k.public_key());
  EXPECT_NE(text.find(to_hex(k.public_key())), std::string::npos);  // the public key, as a comment
}

TEST(KeyFile, EachMalformationHasItsNameAndLine) {
  const std::string seed(64, 'a');
  struct Case {
    std::string text;
    KeyFileError error;
    int line;
  };
  for (const auto& c : std::vector<Case>{
           {"", KeyFileError::NoSeed, 0},
           {"# only a comment\n\n", KeyFileError::NoSeed, 0},
           {"secret-seed " + seed.substr(0, 40) + "\n", KeyFileError::BadSeed, 1},  // truncated
           {"# c\nsecret-seed " + seed.substr(0, 63) + "x\n", KeyFileError::BadSeed, 2},
           {"secret-seed " + seed + "\nsecret-seed " + seed + "\n", KeyFileError::DuplicateSeed, 2},
           {"public-key abc\n", KeyFileError::UnknownLine, 1},
           {"secret-seed\n", KeyFileError::UnknownLine, 1},
           {std::string("secret-seed ") + seed + "\n\x01\n", KeyFileError::NotText, 2},
           {std::string(kMaxKeyFileSize + 1, '#'), KeyFileError::TooLarge, 0},
       }) {
    auto r = parse_key_file(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().error, c.error) << r.error().describe();
    EXPECT_EQ(r.error().line, c.line) << r.error().describe();
  }
  EXPECT_TRUE(parse_key_file("  secret-seed\t" + seed + "  \r\n"));  // spaces, tabs and CRLF are fine
}

class KeyStore : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/natpunch-keytest-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string dir_;
};

TEST_F(KeyStore, CreatesA0600FileOnceAndLoadsTheSameKeyAfter) {
  auto path = dir_ + "/sub/device.key";  // the directory is created too (0700)
  auto first = load_key_file(path, true);
  ASSERT_TRUE(first) << first.error();
  EXPECT_TRUE(first->created);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto again = load_key_file(path, true);
  ASSERT_TRUE(again) << again.error();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->key.public_key(), first->key.public_key());
}

TEST_F(KeyStore, MissingFileIsAnErrorUnlessAskedToCreate) {
  auto r = load_key_file(dir_ + "/none.key", false);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("none.key"), std::string::npos);
  EXPECT_NE(r.error().find("does not exist"), std::string::npos);
}

TEST_F(KeyStore, MalformedOrExposedFilesAreRefusedAndLeftAsTheyWere) {
  auto path = dir_ + "/bad.key";
  const std::string truncated = "secret-seed 0123456789abcdef\n";
  { std::ofstream(path) << truncated; }
  ::chmod(path.c_str(), 0600);
  auto r = load_key_file(path, true);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(path), std::string::npos);
  EXPECT_NE(r.error().find("line 1"), std::string::npos);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, truncated);  // nothing overwritten

  auto good = dir_ + "/open.key";
  { std::ofstream(good) << format_key_file(DeviceKey::generate()); }
  ::chmod(good.c_str(), 0644);
  auto exposed = load_key_file(good, false);
  ASSERT_FALSE(exposed);
  EXPECT_NE(exposed.error().find("chmod 600"), std::string::npos);

  auto not_file = load_key_file(dir_, false);
  ASSERT_FALSE(not_file);
}

}  // namespace
}  // namespace natpunch

namespace natpunch {
namespace {

TEST(AuthorizedKeys, ParsesIdsAndKeysAndNamesTheBadLine) {
  auto k = DeviceKey::generate();
  auto ok = parse_authorized_keys("# home devices\n\nalice " + to_hex(k.public_key()) + "\r\n  00:11:22:33:44:55\t" +
                                  std::string(64, 'F') + "\n");
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_EQ(ok->at("alice"), k.public_key());
  struct Case {
    std::string text;
    int line;
  };
  for (const auto& c : std::vector<Case>{{"alice\n", 1},
                                         {"# c\nalice 12ab\n", 2},
                                         {"alice " + std::string(64, 'a') + "\nalice " + std::string(64, 'b'), 2},
                                         {"alice " + std::string(63, 'a') + "g\n", 1}}) {
    auto r = parse_authorized_keys(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().line, c.line) << r.error().describe();
  }
  EXPECT_TRUE(parse_authorized_keys(""));  // an empty list: nobody may register
}

}  // namespace
}  // namespace natpunch
