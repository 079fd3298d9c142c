// Code point decoding, Unicode character classes and the GPT-2 byte-to-unicode map.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qrag::tokenizer {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Character classes used by the pre-tokenizers. Whitespace follows the Unicode
// White_Space property; the other bits follow the general category.
enum CodepointFlag : std::uint8_t {
  kFlagLetter = 1 << 0,       // L*
  kFlagNumber = 1 << 1,       // N*
  kFlagPunctuation = 1 << 2,  // P*
  kFlagSymbol = 1 << 3,       // S*
  kFlagWhitespace = 1 << 4,   // White_Space (includes \t \n \v \f \r, NBSP, U+3000...)
  kFlagControl = 1 << 5,      // C* (control, format, private use, unassigned, surrogate)
  kFlagMark = 1 << 6,         // M*
};

std::uint8_t codepoint_flags(char32_t cp);
bool is_whitespace(char32_t cp);

// Text split into code points. An invalid or truncated UTF-8 sequence yields one
// U+FFFD per invalid byte, and `offsets` keeps the byte positions, so substrings
// of the original text (raw bytes included) can be recovered.
struct CodepointText {
  std::vector<char32_t> cps;
  std::vector<std::uint8_t> flags;     // codepoint_flags(cps[i])
  std::vector<std::uint32_t> offsets;  // byte offset of cps[i]; offsets[size] = text size
};
void decode_utf8(std::string_view text, CodepointText& out);

// Decodes the code point at text[pos]; returns its byte length (1 for an invalid
// byte, with `cp` set to U+FFFD).
std::size_t decode_one(std::string_view text, std::size_t pos, char32_t& cp);
void append_utf8(char32_t cp, std::string& out);

// Length of the longest prefix of `bytes` made of complete, valid UTF-8 sequences,
// stopping before a trailing sequence that is still incomplete. Invalid bytes
// count as complete (they can never become valid).
std::size_t complete_utf8_prefix(std::string_view bytes);

// Replaces every invalid byte of `bytes` with U+FFFD.
std::string sanitize_utf8(std::string_view bytes);

// First code point of the canonical decomposition (NFD) of `cp`: é -> e, が -> か.
char32_t nfd_base(char32_t cp);
char32_t to_lower(char32_t cp);

// The GPT-2 byte-level alphabet: byte b is written as the code point
// byte_to_codepoint()[b] so that every byte has a printable, non-space symbol.
const std::array<char32_t, 256>& byte_to_codepoint();
// Inverse of byte_to_codepoint(); -1 for code points outside the alphabet.
int codepoint_to_byte(char32_t cp);

}  // namespace qrag::tokenizer
