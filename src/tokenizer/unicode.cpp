// Code point decoding and character classes on top of utf8proc.
#include "tokenizer/unicode.h"

#include <utf8proc.h>

namespace qrag::tokenizer {
namespace {

constexpr std::array<char32_t, 256> make_byte_to_codepoint() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

constexpr std::array<char32_t, 256> kByteToCodepoint = make_byte_to_codepoint();

// The 68 non-printable bytes map to 256..323, so 324 entries cover the alphabet.
constexpr std::array<std::int16_t, 324> make_codepoint_to_byte() {
  std::array<std::int16_t, 324> table{};
  for (auto& entry : table) entry = -1;
  for (int b = 0; b < 256; ++b) table[kByteToCodepoint[static_cast<std::size_t>(b)]] = static_cast<std::int16_t>(b);
  return table;
}

constexpr std::array<std::int16_t, 324> kCodepointToByte = make_codepoint_to_byte();

// ASCII flags, computed once at compile time: the hot path of every pre-tokenizer.
constexpr std::uint8_t ascii_flags(int c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return kFlagWhitespace | kFlagControl * (c != ' ');
  if (c < 0x20 || c == 0x7F) return kFlagControl;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return kFlagLetter;
  if (c >= '0' && c <= '9') return kFlagNumber;
  if (c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '`' || c == '|' ||
      c == '~') {
    return kFlagSymbol;
  }
  return kFlagPunctuation;
}

constexpr std::array<std::uint8_t, 128> make_ascii_table() {
  std::array<std::uint8_t, 128> table{};
  for (int c = 0; c < 128; ++c) table[static_cast<std::size_t>(c)] = ascii_flags(c);
  return table;
}

constexpr std::array<std::uint8_t, 128> kAsciiFlags = make_ascii_table();

std::uint8_t category_flags(utf8proc_category_t category) {
  switch (category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return kFlagLetter;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return kFlagMark;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return kFlagNumber;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return kFlagPunctuation;
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
      return kFlagSymbol;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return 0;
    default:
      return kFlagControl;
  }
}

}  // namespace

bool is_whitespace(char32_t cp) {
  if (cp < 128) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// NOTE: categories come from the system utf8proc (2.8 on Debian 12, Unicode 15.0), so
// code points assigned in later Unicode versions count as unassigned (kFlagControl).
std::uint8_t codepoint_flags(char32_t cp) {
  if (cp < 128) return kAsciiFlags[cp];
  std::uint8_t flags = category_flags(utf8proc_category(static_cast<utf8proc_int32_t>(cp)));
  if (is_whitespace(cp)) flags |= kFlagWhitespace;
  return flags;
}

std::size_t decode_one(std::string_view text, std::size_t pos, char32_t& cp) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos);
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  utf8proc_int32_t value = 0;
  const utf8proc_ssize_t n =
      utf8proc_iterate(bytes, static_cast<utf8proc_ssize_t>(text.size() - pos), &value);
  if (n <= 0) {
    cp = kReplacementChar;
    return 1;
  }
  cp = static_cast<char32_t>(value);
  return static_cast<std::size_t>(n);
}

void decode_utf8(std::string_view text, CodepointText& out) {
  out.cps.clear();
  out.flags.clear();
  out.offsets.clear();
  out.cps.reserve(text.size());
  out.flags.reserve(text.size());
  out.offsets.reserve(text.size() + 1);
  std::size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = 0;
    const std::size_t n = decode_one(text, pos, cp);
    out.cps.push_back(cp);
    out.flags.push_back(codepoint_flags(cp));
    out.offsets.push_back(static_cast<std::uint32_t>(pos));
    pos += n;
  }
  out.offsets.push_back(static_cast<std::uint32_t>(text.size()));
}

void append_utf8(char32_t cp, std::string& out) {
  utf8proc_uint8_t buffer[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buffer);
  out.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

std::size_t complete_utf8_prefix(std::string_view bytes) {
  // Only the last three bytes can start a sequence that is still incomplete.
  const std::size_t size = bytes.size();
  for (std::size_t back = 1; back <= 3 && back <= size; ++back) {
    const auto byte = static_cast<unsigned char>(bytes[size - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    std::size_t need = 0;
    if ((byte & 0xE0) == 0xC0) need = 2;
    if ((byte & 0xF0) == 0xE0) need = 3;
    if ((byte & 0xF8) == 0xF0) need = 4;
    if (need > back) {
      // Hold back only if some continuation could still make the sequence valid.
      // The second byte of E0, ED, F0 and F4 sequences has a narrower range, so
      // three candidates for it cover every lead byte.
      for (const char second : {'\x80', '\x90', '\xA0'}) {
        std::string candidate(bytes.substr(size - back));
        if (back == 1) candidate += second;
        candidate.resize(need, '\x80');
        char32_t cp = 0;
        if (decode_one(candidate, 0, cp) == need) return size - back;
      }
    }
    return size;
  }
  return size;
}

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    char32_t cp = 0;
    const std::size_t n = decode_one(bytes, pos, cp);
    if (cp == kReplacementChar && n == 1) {
      append_utf8(kReplacementChar, out);
    } else {
      out.append(bytes.substr(pos, n));
    }
    pos += n;
  }
  return out;
}

char32_t nfd_base(char32_t cp) {
  if (cp < 0xC0) return cp;
  utf8proc_int32_t buffer[8];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buffer, 8,
                                                     UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n <= 0) return cp;
  return static_cast<char32_t>(buffer[0]);
}

char32_t to_lower(char32_t cp) {
  if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

const std::array<char32_t, 256>& byte_to_codepoint() { return kByteToCodepoint; }

int codepoint_to_byte(char32_t cp) {
  if (cp >= kCodepointToByte.size()) return -1;
  return kCodepointToByte[cp];
}

}  // namespace qrag::tokenizer
