// Raw GGUF encoding for tests, the malformed cases and the truncation oracle.
#include "gguf/gguf_builder.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <variant>

namespace qrag::gguf::testing {
namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr std::uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kF64 = 28;

std::size_t align_up(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }

// Smallest encoded element of each value type (the reader's count check).
std::uint64_t min_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

Value arr(ValueType element_type, std::vector<Value> items) { return Value{Array{element_type, std::move(items)}}; }

std::string tensor_context(const std::string& name, std::size_t index, std::size_t info_offset) {
  return "tensor '" + name + "' (info #" + std::to_string(index) + " at offset " + std::to_string(info_offset) + ")";
}

std::string at(std::size_t offset) { return " at offset " + std::to_string(offset); }

}  // namespace

std::string Field::expected() const {
  if (name == "data") return "bytes at file offset " + std::to_string(offset);
  return name + at(offset);
}

void RawGguf::put(std::string_view name, std::uint64_t v, int size) {
  fields.push_back(Field{context, std::string(name), bytes.size(), static_cast<std::size_t>(size), arrays_,
                         tensor_index_});
  for (int i = 0; i < size; ++i) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void RawGguf::str(std::string_view name, std::string_view s) {
  const std::size_t start = bytes.size();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(s.size()) >> (8 * i)));
  bytes.insert(bytes.end(), s.begin(), s.end());
  fields.push_back(Field{context, std::string(name), start, 8 + s.size(), arrays_, tensor_index_});
}

void RawGguf::raw(std::string_view name, const std::vector<std::uint8_t>& data) {
  fields.push_back(Field{context, std::string(name), bytes.size(), data.size(), {}, tensor_index_});
  bytes.insert(bytes.end(), data.begin(), data.end());
}

void RawGguf::pad_to(std::size_t alignment) {
  const std::size_t n = align_up(bytes.size(), alignment) - bytes.size();
  if (n == 0) return;
  fields.push_back(Field{"", "padding", bytes.size(), n, {}, -1});
  bytes.resize(bytes.size() + n, 0);
}

void RawGguf::value(const Value& v, const std::string& name, bool with_type) {
  if (with_type) u32(name + " type", static_cast<std::uint32_t>(v.type()));
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          u8(name, x ? 1 : 0);
        } else if constexpr (std::is_same_v<T, std::string>) {
          str(name, x);
        } else if constexpr (std::is_same_v<T, Array>) {
          u32(name + " element type", static_cast<std::uint32_t>(x.element_type));
          const std::size_t length_offset = bytes.size();
          u64(name + " length", x.items.size());
          arrays_.push_back({length_offset, x.items.size(), min_size(x.element_type), name + " length" + at(length_offset)});
          for (std::size_t k = 0; k < x.items.size(); ++k) value(x.items[k], name + "[" + std::to_string(k) + "]", false);
          arrays_.pop_back();
        } else if constexpr (std::is_same_v<T, float>) {
          u32(name, std::bit_cast<std::uint32_t>(x));
        } else if constexpr (std::is_same_v<T, double>) {
          u64(name, std::bit_cast<std::uint64_t>(x));
        } else {
          put(name, static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<T>>(x)), sizeof(T));
        }
      },
      v.storage);
}

void RawGguf::patch_u32(std::size_t offset, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes.at(offset + i) = static_cast<std::uint8_t>(v >> (8 * i));
}

void RawGguf::patch_u64(std::size_t offset, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) bytes.at(offset + i) = static_cast<std::uint8_t>(v >> (8 * i));
}

const Field& RawGguf::field(std::string_view context_part, std::string_view name) const {
  for (const Field& f : fields) {
    if (f.name == name && f.context.find(context_part) != std::string::npos) return f;
  }
  throw std::out_of_range("no field '" + std::string(name) + "' in context '" + std::string(context_part) + "'");
}

RawGguf build(const TestFile& file) {
  RawGguf r;
  r.u32("magic", kMagic);
  r.u32("version", file.version);
  r.u64("tensor_count", file.tensors.size());
  r.u64("kv_count", file.metadata.size());
  for (std::size_t i = 0; i < file.metadata.size(); ++i) {
    const KeyValue& kv = file.metadata[i];
    r.context = "KV #" + std::to_string(i);
    r.str("key", kv.key);
    r.context = "KV #" + std::to_string(i) + " '" + kv.key + "'";
    r.value(kv.value, "value", true);
  }
  std::vector<std::uint64_t> offsets;
  std::uint64_t next = 0;
  for (const TestTensor& t : file.tensors) {
    const std::uint64_t offset = t.offset == TestTensor::kAutoOffset ? align_up(next, file.alignment) : t.offset;
    offsets.push_back(offset);
    next = offset + t.data.size();
  }
  std::vector<std::string> contexts;
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    const TestTensor& t = file.tensors[i];
    const std::size_t info_offset = r.offset();
    r.context = "tensor info #" + std::to_string(i) + at(info_offset);
    r.str("name", t.name);
    r.context = tensor_context(t.name, i, info_offset);
    contexts.push_back(r.context);
    r.u32("n_dims", static_cast<std::uint32_t>(t.ne.size()));
    for (std::size_t j = 0; j < t.ne.size(); ++j) r.u64("ne[" + std::to_string(j) + "]", t.ne[j]);
    r.u32("type", t.type);
    r.u64("offset", offsets[i]);
  }
  r.context.clear();
  if (!file.tensors.empty() || file.pad_end) r.pad_to(file.alignment);
  const std::size_t data_start = r.offset();
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    const TestTensor& t = file.tensors[i];
    const std::size_t at_byte = data_start + offsets[i];
    if (t.data.empty()) continue;
    if (r.bytes.size() < at_byte + t.data.size()) r.bytes.resize(at_byte + t.data.size(), 0);
    std::copy(t.data.begin(), t.data.end(), r.bytes.begin() + static_cast<std::ptrdiff_t>(at_byte));
    r.fields.push_back(Field{contexts[i], "data", at_byte, t.data.size(), {}, static_cast<int>(i)});
  }
  if (file.pad_end) r.pad_to(file.alignment);
  std::stable_sort(r.fields.begin(), r.fields.end(),
                   [](const Field& a, const Field& b) { return a.offset < b.offset; });
  return r;
}

std::vector<std::uint8_t> pattern_bytes(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(seed + i * 37 + (i >> 3));
  return out;
}

TestFile sample_file() {
  TestFile f;
  f.metadata = {
      {"general.architecture", Value{std::string("llama")}},
      {"general.name", Value{std::string("sample")}},
      {"test.u8", Value{std::uint8_t{250}}},
      {"test.i8", Value{std::int8_t{-7}}},
      {"test.u16", Value{std::uint16_t{65535}}},
      {"test.i16", Value{std::int16_t{-32768}}},
      {"test.u32", Value{std::uint32_t{4000000000u}}},
      {"test.i32", Value{std::int32_t{-5}}},
      {"test.f32", Value{0.25f}},
      {"test.bool", Value{true}},
      {"test.empty_string", Value{std::string()}},
      {"test.u64", Value{std::uint64_t{1} << 63}},
      {"test.i64", Value{std::int64_t{-1} << 40}},
      {"test.f64", Value{-1.5e-10}},
      {"test.array.u8", arr(ValueType::UINT8, {Value{std::uint8_t{1}}, Value{std::uint8_t{2}}})},
      {"test.array.i32", arr(ValueType::INT32, {Value{-1}, Value{0}, Value{1}})},
      {"test.array.f32", arr(ValueType::FLOAT32, {Value{0.5f}, Value{-2.0f}})},
      {"test.array.string", arr(ValueType::STRING, {Value{std::string("a")}, Value{std::string("bc")}, Value{std::string()}})},
      {"test.array.bool", arr(ValueType::BOOL, {Value{true}, Value{false}})},
      {"test.array.empty", arr(ValueType::UINT64, {})},
      {"test.array.nested", arr(ValueType::ARRAY, {arr(ValueType::UINT16, {Value{std::uint16_t{1}}, Value{std::uint16_t{2}}}),
                                                   arr(ValueType::STRING, {Value{std::string("x")}}),
                                                   arr(ValueType::INT64, {})})},
  };
  f.tensors = {
      {"a.weight", kF32, {4, 2}, pattern_bytes(32, 1)},
      {"b.bias", kF16, {3}, pattern_bytes(6, 2)},
      {"c.weight", kQ8_0, {32, 1}, pattern_bytes(34, 3)},
  };
  return f;
}

namespace {

// A KV, one F32 tensor "t" of 8 elements: the base of most malformed cases.
TestFile minimal_file() {
  TestFile f;
  f.metadata = {{"general.architecture", Value{std::string("llama")}}};
  f.tensors = {{"t", kF32, {8}, pattern_bytes(32, 9)}};
  return f;
}

MalformedCase make(std::string name, const RawGguf& r, std::vector<std::string> expected) {
  return MalformedCase{std::move(name), r.bytes, std::move(expected)};
}

// Cases where one header or metadata field is corrupted.
void add_header_and_metadata_cases(std::vector<MalformedCase>& out) {
  const RawGguf base = build(minimal_file());
  out.push_back({"empty-file", {}, {"magic at offset 0", "needs 4 bytes but only 0 are left"}});
  {
    RawGguf r = base;
    r.bytes[3] = 'X';
    out.push_back(make("bad-magic", r, {"magic at offset 0", "expected \"GGUF\"", "47 47 55 58"}));
    r.patch_u32(0, 0x67676a74);
    out.push_back(make("ggjt-magic", r, {"magic at offset 0", "pre-GGUF"}));
  }
  for (std::uint32_t version : {1u, 4u, 0x03000000u}) {
    RawGguf r = base;
    r.patch_u32(4, version);
    const char* what = version == 1 ? "GGUF v1 is obsolete" : version == 4 ? "unsupported GGUF version 4" : "big-endian";
    out.push_back(make(version == 1 ? "version-1" : version == 4 ? "version-4" : "big-endian", r, {"version at offset 4", what}));
  }
  {
    RawGguf r = base;
    r.patch_u64(8, std::uint64_t{1} << 62);
    out.push_back(make("absurd-tensor-count", r, {"tensor_count at offset 8", "4611686018427387904 tensor infos"}));
    r = base;
    r.patch_u64(16, ~std::uint64_t{0});
    out.push_back(make("absurd-kv-count", r, {"kv_count at offset 16", "18446744073709551615 key/value pairs"}));
  }
  {
    RawGguf r = base;
    r.patch_u64(24, 1000000);
    out.push_back(make("key-length-past-eof", r, {"KV #0", "key at offset 24", "string length 1000000 exceeds"}));
    const Field& type = base.field("KV #0 ", "value type");
    r = base;
    r.patch_u32(type.offset, 13);
    out.push_back(make("unknown-value-type", r, {"KV #0 'general.architecture'", type.expected(), "unknown value type 13"}));
    const Field& value = base.field("KV #0 ", "value");
    r = base;
    r.patch_u64(value.offset, std::uint64_t{1} << 40);
    out.push_back(make("string-value-past-eof", r, {"KV #0 'general.architecture'", value.expected(), "string length 1099511627776 exceeds"}));
  }
  {
    TestFile f = minimal_file();
    f.metadata.push_back({"", Value{std::uint8_t{1}}});
    const RawGguf r = build(f);
    out.push_back(make("empty-key", r, {"KV #1", r.field("KV #1", "key").expected() + ": empty key"}));
  }
  {
    TestFile f = minimal_file();
    f.metadata.push_back({std::string(65536, 'k'), Value{std::uint8_t{1}}});
    const RawGguf r = build(f);
    out.push_back(make("key-too-long", r, {"KV #1", r.field("KV #1", "key").expected(), "length 65536 exceeds the GGUF limit of 65535"}));
  }
  {
    TestFile f = minimal_file();
    f.metadata.push_back({"general.name", Value{std::string("a")}});
    f.metadata.push_back({"general.name", Value{std::string("b")}});
    const RawGguf r = build(f);
    out.push_back(make("duplicate-key", r, {"KV #2", r.field("KV #2", "key").expected(), "duplicate key 'general.name'",
                                            "first defined by KV #1" + at(r.field("KV #1", "key").offset)}));
  }
}

void add_value_cases(std::vector<MalformedCase>& out) {
  TestFile f = minimal_file();
  f.metadata.push_back({"test.flag", Value{true}});
  f.metadata.push_back({"test.list", arr(ValueType::UINT32, {Value{1u}, Value{2u}, Value{3u}})});
  const RawGguf base = build(f);
  {
    RawGguf r = base;
    const Field& flag = base.field("'test.flag'", "value");
    r.bytes[flag.offset] = 7;
    out.push_back(make("bool-not-0-or-1", r, {"KV #1 'test.flag'", flag.expected(), "bool byte 7 is neither 0 nor 1"}));
  }
  {
    RawGguf r = base;
    const Field& length = base.field("'test.list'", "value length");
    r.patch_u64(length.offset, std::uint64_t{1} << 40);
    out.push_back(make("array-length-past-eof", r, {"KV #2 'test.list'", length.expected(), "1099511627776 uint32 elements"}));
    r = base;
    const Field& element = base.field("'test.list'", "value element type");
    r.patch_u32(element.offset, 99);
    out.push_back(make("array-unknown-element-type", r, {"KV #2 'test.list'", element.expected(), "unknown value type 99"}));
  }
  {
    // Nine levels of arrays: the ninth is refused where its element type sits.
    Value v = arr(ValueType::UINT8, {Value{std::uint8_t{1}}});
    for (int level = 1; level < 9; ++level) v = arr(ValueType::ARRAY, {v});
    TestFile g = minimal_file();
    g.metadata.push_back({"test.deep", v});
    const RawGguf r = build(g);
    std::string name = "value";
    for (int level = 1; level < 9; ++level) name += "[0]";
    const Field& ninth = r.field("'test.deep'", name + " element type");
    out.push_back(make("array-nested-too-deep", r, {"KV #1 'test.deep'", name + at(ninth.offset), "arrays nested more than 8 levels deep"}));
  }
  const std::pair<const char*, Value> alignments[] = {{"alignment-not-power-of-two", Value{48u}},
                                                      {"alignment-zero", Value{0u}},
                                                      {"alignment-wrong-type", Value{std::uint64_t{64}}}};
  for (const auto& [name, value] : alignments) {
    TestFile g = minimal_file();
    g.metadata.push_back({"general.alignment", value});
    const RawGguf r = build(g);
    const std::string problem = value.type() != ValueType::UINT32 ? "has type uint64, expected uint32"
                                : std::get<std::uint32_t>(value.storage) == 0 ? "0 is not a power of two"
                                                                              : "48 is not a power of two";
    out.push_back(make(name, r, {"KV #1 'general.alignment'", "value" + at(r.field("KV #1 ", "value type").offset), problem}));
  }
}

void add_tensor_info_cases(std::vector<MalformedCase>& out) {
  const RawGguf base = build(minimal_file());
  const Field& name = base.field("tensor info #0", "name");
  const std::string ctx = base.field("tensor 't'", "n_dims").context;
  {
    RawGguf r = base;
    r.patch_u64(name.offset, 1u << 20);
    out.push_back(make("tensor-name-past-eof", r, {"tensor info #0" + at(name.offset), name.expected(), "string length 1048576 exceeds"}));
  }
  auto with_tensor = [](TestTensor t, std::vector<TestTensor> extra = {}) {
    TestFile f = minimal_file();
    f.tensors = {std::move(t)};
    for (TestTensor& e : extra) f.tensors.push_back(std::move(e));
    return build(f);
  };
  {
    const RawGguf r = with_tensor({"", kF32, {8}, pattern_bytes(32, 1)});
    out.push_back(make("empty-tensor-name", r, {r.field("tensor info #0", "name").expected() + ": empty tensor name"}));
  }
  {
    const RawGguf r = with_tensor({"t", kF32, {8}, pattern_bytes(32, 1)}, {{"t", kF32, {8}, pattern_bytes(32, 2)}});
    out.push_back(make("duplicate-tensor-name", r, {"tensor info #1", r.field("tensor info #1", "name").expected(),
                                                    "duplicate tensor name 't'", "first used by tensor info #0" + at(name.offset)}));
  }
  {
    const RawGguf r = with_tensor({"t", kF32, {2, 2, 2, 1, 1}, pattern_bytes(32, 1)});
    out.push_back(make("n-dims-5", r, {ctx, r.field("tensor 't'", "n_dims").expected(), "5 exceeds the maximum of 4 dimensions"}));
  }
  {
    const RawGguf r = with_tensor({"t", kF32, {8, 0}, {}});
    out.push_back(make("zero-dimension", r, {ctx, r.field("tensor 't'", "ne[1]").expected(), "dimension 0 is zero"}));
  }
  {
    const RawGguf r = with_tensor({"t", kF32, {std::uint64_t{1} << 63}, {}});
    out.push_back(make("dimension-over-int64", r, {ctx, r.field("tensor 't'", "ne[0]").expected(), "exceeds INT64_MAX"}));
  }
  {
    const RawGguf r = with_tensor({"t", kF32, {std::uint64_t{1} << 32, std::uint64_t{1} << 32}, {}});
    out.push_back(make("element-count-overflow", r, {ctx, "shape (ne)" + at(r.field("tensor 't'", "ne[0]").offset), "element count of shape [4294967296, 4294967296] overflows int64"}));
  }
  {
    const RawGguf r = with_tensor({"t", kF64, {std::uint64_t{1} << 61, 2}, {}});
    out.push_back(make("byte-size-overflow", r, {ctx, "shape (ne)" + at(r.field("tensor 't'", "ne[0]").offset), "byte size of a f64 tensor", "overflows int64"}));
  }
  for (std::uint32_t type : {4u, 99u}) {
    const RawGguf r = with_tensor({"t", type, {8}, pattern_bytes(32, 1)});
    out.push_back(make(type == 4 ? "removed-tensor-type" : "unknown-tensor-type", r,
                       {ctx, r.field("tensor 't'", "type").expected(), "unknown or removed tensor type id " + std::to_string(type)}));
  }
  {
    const RawGguf r = with_tensor({"t", kQ4_0, {33}, pattern_bytes(18, 1)});
    out.push_back(make("row-not-multiple-of-block", r, {ctx, "shape (ne)" + at(r.field("tensor 't'", "ne[0]").offset),
                                                        "ne[0] = 33 is not a multiple of the q4_0 block size 32"}));
  }
}

void add_tensor_data_cases(std::vector<MalformedCase>& out) {
  {
    TestTensor t{"t", kF32, {8}, pattern_bytes(32, 1), 16};
    TestFile f = minimal_file();
    f.tensors = {t};
    const RawGguf r = build(f);
    out.push_back(make("misaligned-offset", r, {"tensor 't'", r.field("tensor 't'", "offset").expected(),
                                                "data offset 16 is not a multiple of the alignment 32"}));
  }
  {
    RawGguf r = build(minimal_file());
    const Field& data = r.field("tensor 't'", "data");
    r.bytes.resize(data.offset + 10);
    out.push_back(make("data-past-eof", r, {"tensor 't'", "data offset 0 (field" + at(r.field("tensor 't'", "offset").offset) + ")",
                                            "32 bytes at file offset " + std::to_string(data.offset) +
                                                " run past the end of the file (size " + std::to_string(data.offset + 10)}));
  }
  {
    RawGguf r = build(minimal_file());
    const std::uint64_t huge = ~std::uint64_t{31};
    r.patch_u64(r.field("tensor 't'", "offset").offset, huge);
    const std::size_t data_start = r.field("tensor 't'", "data").offset;
    out.push_back(make("offset-overflow", r, {"tensor 't'", "data offset " + std::to_string(huge),
                                              std::to_string(data_start) + " + " + std::to_string(huge) + " run past the end"}));
  }
  {
    TestFile f = minimal_file();
    f.tensors = {{"t1", kF32, {16}, pattern_bytes(64, 1), 0}, {"t2", kF32, {8}, pattern_bytes(32, 2), 32}};
    const RawGguf r = build(f);
    out.push_back(make("overlapping-tensors", r, {"tensor 't2' (info #1", "data [32, 64)", "overlaps tensor 't1' (info #0", "data [0, 64)"}));
  }
}

}  // namespace

std::vector<MalformedCase> malformed_cases() {
  std::vector<MalformedCase> out;
  add_header_and_metadata_cases(out);
  add_value_cases(out);
  add_tensor_info_cases(out);
  add_tensor_data_cases(out);
  return out;
}

namespace {

// The error the reader gives for a file cut to `cut` bytes, following its check
// order: header fields; the KV and tensor counts against the bytes left; then
// the first incomplete field, unless an enclosing array's length check fails
// first; then tensor data in info order. Empty when the cut file is valid.
std::vector<std::string> expected_for_cut(const RawGguf& r, const TestFile& f, std::size_t cut) {
  auto first_incomplete = [&]() -> const Field& {
    for (const Field& field : r.fields) {
      if (field.end() > cut && field.size > 0) return field;
    }
    throw std::logic_error("no incomplete field");
  };
  if (cut < 24) return {first_incomplete().expected()};
  const std::uint64_t left = cut - 24;
  const std::uint64_t n_kv = f.metadata.size();
  if (n_kv > left / 13) return {"kv_count at offset 16"};
  if (f.tensors.size() > (left - n_kv * 13) / 24) return {"tensor_count at offset 8"};
  std::size_t header_end = 0;
  for (const Field& field : r.fields) {
    if (field.name != "padding" && field.name != "data") header_end = std::max(header_end, field.end());
  }
  if (cut < header_end) {
    const Field& field = first_incomplete();
    for (const EnclosingArray& a : field.arrays) {
      if (a.count > (cut - (a.length_offset + 8)) / a.min_size) return {field.context, a.expected};
    }
    return {field.context, field.expected()};
  }
  for (const Field& field : r.fields) {  // data fields in offset order = info order for auto offsets
    if (field.name == "data" && field.end() > cut) return {field.context, field.expected()};
  }
  return {};
}

}  // namespace

std::vector<MalformedCase> truncation_cases() {
  const TestFile f = sample_file();
  const RawGguf r = build(f);
  std::vector<std::size_t> cuts;
  for (const Field& field : r.fields) {
    cuts.push_back(field.offset);
    if (field.size > 2) cuts.push_back(field.offset + field.size / 2);
    if (field.size > 1) cuts.push_back(field.end() - 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<MalformedCase> out;
  for (std::size_t cut : cuts) {
    std::vector<std::string> expected = expected_for_cut(r, f, cut);
    if (expected.empty()) continue;
    const Field* field = nullptr;
    for (const Field& x : r.fields) {
      if (x.offset <= cut && cut < x.end()) field = &x;
    }
    std::string stem = "cut-" + std::to_string(cut) + "-" + (field ? field->name : "end");
    for (char& c : stem) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    }
    out.push_back({stem, std::vector<std::uint8_t>(r.bytes.begin(), r.bytes.begin() + static_cast<std::ptrdiff_t>(cut)),
                   std::move(expected)});
  }
  return out;
}

std::vector<std::pair<std::string, std::vector<std::uint8_t>>> fuzz_corpus() {
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> out;
  out.emplace_back("valid-sample.gguf", build(sample_file()).bytes);
  TestFile v2 = sample_file();
  v2.version = 2;
  out.emplace_back("valid-sample-v2.gguf", build(v2).bytes);
  out.emplace_back("valid-minimal.gguf", build(minimal_file()).bytes);
  TestFile no_tensors = sample_file();
  no_tensors.tensors.clear();
  no_tensors.pad_end = false;
  out.emplace_back("valid-no-tensors.gguf", build(no_tensors).bytes);
  for (MalformedCase& c : malformed_cases()) out.emplace_back("malformed-" + c.name + ".gguf", std::move(c.bytes));
  for (MalformedCase& c : truncation_cases()) out.emplace_back(c.name + ".gguf", std::move(c.bytes));
  return out;
}

}  // namespace qrag::gguf::testing
