// Bytes from the network are shown escaped (wire/escape.h): valid UTF-8 out, no terminal control,
// no bidirectional override; device IDs must not need escaping at all.
#include <gtest/gtest.h>

#include <string>

#include "wire/device_id.h"
#include "wire/escape.h"

namespace natpunch {
namespace {

TEST(EscapeForDisplay, PrintableAsciiAndUtf8PassUnchanged) {
  EXPECT_EQ(escape_for_display("Peer does not allow you"), "Peer does not allow you");
  EXPECT_EQ(escape_for_display("küche-lampe ☀ 家"), "küche-lampe ☀ 家");
  EXPECT_EQ(escape_for_display(""), "");
}

TEST(EscapeForDisplay, ControlsInvalidUtf8AndBidiAreEscaped) {
  EXPECT_EQ(escape_for_display("a\x1b[31mred"), "a\\x1b[31mred");      // ESC: a terminal escape
  EXPECT_EQ(escape_for_display("a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");  // C0 and DEL
  EXPECT_EQ(escape_for_display("\xc2\x9b"
                               "2J"),
            "\\xc2\\x9b2J");                                         // U+009B, the C1 CSI
  EXPECT_EQ(escape_for_display("bad \xff\xfe"), "bad \\xff\\xfe");   // not UTF-8 at all
  EXPECT_EQ(escape_for_display("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escape_for_display("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a UTF-16 surrogate
  EXPECT_EQ(escape_for_display("\xe2\x80\xae"
                               "gnp.exe"),
            "\\xe2\\x80\\xaegnp.exe");                                 // U+202E override
  EXPECT_EQ(escape_for_display("\xe2\x81\xa6x"), "\\xe2\\x81\\xa6x");  // U+2066 isolate
  EXPECT_EQ(escape_for_display("\xe2\x82"), "\\xe2\\x82");             // truncated sequence
  EXPECT_EQ(escape_for_display("C:\\dir"), "C:\\\\dir");               // a backslash is doubled
}

TEST(EscapeForDisplay, LongInputIsCutAtACharacterBoundary) {
  std::string s(300, 'x');
  auto shown = escape_for_display(s, 256);
  EXPECT_EQ(shown, std::string(256, 'x') + "…");
  // "é" is two bytes: with room for 3 bytes only "aé" fits and the cut never splits a character.
  EXPECT_EQ(escape_for_display("aéé", 4), "aé…");
  EXPECT_EQ(escape_for_display("aéé", 5), "aéé");
}

TEST(EscapeForDisplay, DisplayableAsIsMatchesEscaping) {
  for (std::string s : {"alice", "küche", "a b", "C:\\x"}) EXPECT_TRUE(displayable_as_is(s)) << s;
  for (std::string s : {"a\x1b", "\xff", "\xc2\x9b", "\xe2\x80\xae", "a\nb"}) EXPECT_FALSE(displayable_as_is(s)) << s;
}

TEST(DeviceIdText, IdsMustBeDisplayableUtf8) {
  EXPECT_TRUE(make_device_id(IdKind::UserName, "küche-lampe"));
  EXPECT_FALSE(make_device_id(IdKind::UserName, "bad\xff"));
  EXPECT_FALSE(make_device_id(IdKind::UserName,
                              "\xe2\x80\xae"
                              "evil"));
  EXPECT_FALSE(make_device_id(IdKind::UserName, "a\x1b[2Jb"));
  EXPECT_FALSE(make_device_id(IdKind::UserName, "\xc2\x9b"));
}

}  // namespace
}  // namespace natpunch
