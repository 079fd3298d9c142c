// libFuzzer target for the GGUF reader: any input must either parse or throw
// qrag::Error, never crash, leak or trip a sanitizer. Inputs that parse are
// also summarized, their tensor views touched, and written back with
// GgufWriter: the rewrite must parse to the same content and be a fixed point.
//
// Build and run (see docs/formats.md):
//   cmake --preset fuzz && cmake --build --preset fuzz --target fuzz_gguf
//   ./build/fuzz/fuzz/fuzz_gguf -max_total_time=180 fuzz/corpus/gguf
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "gguf/model_summary.h"

namespace {

using qrag::gguf::GgufFile;

// Fails loudly: a mismatch here is a bug in the reader or the writer.
void require(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::uint8_t> rewrite(const GgufFile& file) {
  qrag::gguf::GgufWriter writer = qrag::gguf::GgufWriter::copy_of(file);
  qrag::gguf::VectorSink sink;
  writer.write(sink, [&](const qrag::gguf::TensorInfo& info, qrag::gguf::ByteSink& out) {
    out.write(file.tensor_data(file.tensor(info.name)));
  });
  return sink.take();
}

void exercise(const GgufFile& file) {
  // Every getter on every key: wrong types throw qrag::Error, nothing else.
  for (const qrag::gguf::KeyValue& kv : file.metadata()) {
    try { (void)file.get_uint(kv.key); } catch (const qrag::Error&) {}
    try { (void)file.get_int(kv.key); } catch (const qrag::Error&) {}
    try { (void)file.get_float(kv.key); } catch (const qrag::Error&) {}
    try { (void)file.get_string_array(kv.key); } catch (const qrag::Error&) {}
    try { (void)file.get_int_array(kv.key); } catch (const qrag::Error&) {}
    try { (void)file.get_float_array(kv.key); } catch (const qrag::Error&) {}
  }
  (void)qrag::gguf::summarize(file);
  std::uint32_t sum = 0;
  for (const qrag::gguf::TensorInfo& info : file.tensors()) {
    const auto bytes = file.tensor_data(info);
    require(bytes.size() == info.n_bytes);
    sum += bytes.front() + bytes.back();  // ASan checks both ends lie inside the buffer
  }
  volatile std::uint32_t keep = sum;
  (void)keep;

  // Round trip. Tensor data is bounded by the input size, but padding is not: a
  // valid file may ask for an alignment of up to 2^31 bytes, which the writer
  // would honour with gigabytes of zeros. Such inputs skip the rewrite.
  if (file.alignment() > (std::size_t{1} << 20)) return;
  const std::vector<std::uint8_t> once = rewrite(file);
  const GgufFile again = GgufFile::from_bytes(once, "rewritten");
  require(again.metadata().size() == file.metadata().size());
  require(again.tensors().size() == file.tensors().size());
  for (std::size_t i = 0; i < file.tensors().size(); ++i) {
    const auto a = file.tensor_data(file.tensors()[i]);
    const auto b = again.tensor_data(again.tensors()[i]);
    require(again.tensors()[i].name == file.tensors()[i].name && a.size() == b.size() &&
            std::equal(a.begin(), a.end(), b.begin()));
  }
  require(rewrite(again) == once);  // byte-wise: also compares NaN payloads exactly
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  try {
    const GgufFile file = GgufFile::from_bytes(std::move(bytes), "fuzz-input.gguf");
    exercise(file);
  } catch (const qrag::Error&) {
    // Rejected with a message: the expected outcome for malformed input.
  }
  return 0;
}
