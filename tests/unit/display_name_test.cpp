// display_name: names from model files made safe to print in one line of a message.
#include "core/display_name.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

TEST(DisplayName, OrdinaryNamesAreUnchanged) {
  EXPECT_EQ(display_name(""), "");
  EXPECT_EQ(display_name("conv1/Relu:0"), "conv1/Relu:0");
  EXPECT_EQ(display_name("caf\xc3\xa9 \xe5\x8d\xb7\xe7\xa7\xaf \xf0\x9f\x94\xa5"),
            "caf\xc3\xa9 \xe5\x8d\xb7\xe7\xa7\xaf \xf0\x9f\x94\xa5");  // UTF-8 stays
  const std::string exactly(kMaxDisplayNameChars, 'a');
  EXPECT_EQ(display_name(exactly), exactly);
}

TEST(DisplayName, ControlCharactersAndBadBytesAreEscaped) {
  EXPECT_EQ(display_name("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(display_name("\x1b[2J\x1b]0;title\x07"), "\\x1B[2J\\x1B]0;title\\x07");
  EXPECT_EQ(display_name(std::string("nul\0byte", 8)), "nul\\x00byte");
  EXPECT_EQ(display_name("del\x7f"), "del\\x7F");
  EXPECT_EQ(display_name("back\\slash"), "back\\\\slash");
  // Bytes that are not UTF-8: a lone continuation byte, a truncated sequence, an overlong '/',
  // a surrogate.
  EXPECT_EQ(display_name("\x80"), "\\x80");
  EXPECT_EQ(display_name("\xe5\x8d"), "\\xE5\\x8D");
  EXPECT_EQ(display_name("\xc0\xaf"), "\\xC0\\xAF");
  EXPECT_EQ(display_name("\xed\xa0\x80"), "\\xED\\xA0\\x80");
  // Valid code points that reorder or break the line: C1 CSI, line separator, RTL override.
  EXPECT_EQ(display_name("\xc2\x9b"), "\\u{009B}");
  EXPECT_EQ(display_name("a\xe2\x80\xa8z"), "a\\u{2028}z");
  EXPECT_EQ(display_name("abc\xe2\x80\xaexyz"), "abc\\u{202E}xyz");
}

TEST(DisplayName, LongNamesAreShortenedWithLengthAndHash) {
  const std::string a = std::string(1 << 20, 'x') + "a";
  const std::string b = std::string(1 << 20, 'x') + "b";
  const std::string shown_a = display_name(a);
  EXPECT_LE(shown_a.size(), kMaxDisplayNameChars);
  EXPECT_EQ(shown_a.substr(0, 100), std::string(100, 'x'));
  EXPECT_NE(shown_a.find("...(1048577 bytes, hash "), std::string::npos) << shown_a;
  EXPECT_EQ(shown_a.back(), ')');
  // Same beginning, same length: the hash tells them apart.
  EXPECT_NE(shown_a, display_name(b));
  EXPECT_EQ(shown_a, display_name(a));

  // Escapes count toward the length and are never cut in half.
  const std::string newlines(150, '\n');
  const std::string shown = display_name(newlines);
  EXPECT_LE(shown.size(), kMaxDisplayNameChars);
  EXPECT_EQ(shown.find('\n'), std::string::npos);
  const size_t cut = shown.find("...(150 bytes");
  ASSERT_NE(cut, std::string::npos) << shown;
  EXPECT_EQ(cut % 2, 0u);  // whole "\n" escapes only
  // And multi-byte characters are not split.
  const std::string wide = display_name(std::string(300, 'y') + std::string(100, '\xe5'));
  EXPECT_EQ(wide.find("\xe5"), std::string::npos);
}

}  // namespace
}  // namespace kiln
