// Generator: prompt prefill with cache reuse, sampling loop, stop strings and batched decoding.
#include "engine/generator.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include <fmt/core.h>

#include "core/check.h"
#include "core/error.h"

namespace qrag::engine {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// State of one sequence during generation: sampler, streamed text and stop-string matching.
class SequenceRun {
 public:
  SequenceRun(const tokenizer::Tokenizer& tokenizer, const GenerationParams& params, const TextCallback* on_text)
      : tokenizer_(&tokenizer), params_(&params), on_text_(on_text), sampler_(params.sampling),
        detokenizer_(tokenizer) {
    for (const std::string& stop : params.stop) max_stop_ = std::max(max_stop_, stop.size());
  }

  bool done() const { return done_; }
  GenerationResult& result() { return result_; }

  // Samples from `logits` and handles the token; returns the token to feed back,
  // or nullopt when the sequence has finished.
  std::optional<std::int32_t> step(std::span<const float> logits, const LogitsCallback* on_logits) {
    const std::int32_t token = sampler_.sample(logits);
    const int index = static_cast<int>(result_.tokens.size());
    if (params_->top_logprobs > 0) result_.logprobs.push_back(model::top_logprobs(logits, params_->top_logprobs));
    if (on_logits && *on_logits) (*on_logits)(index, token, logits);
    if (params_->stop_at_eog && tokenizer_->is_eog(token)) {
      finish(StopReason::kEndOfGeneration);
      return std::nullopt;
    }
    result_.tokens.push_back(token);
    if (append_text(detokenizer_.push(token))) return std::nullopt;
    if (static_cast<int>(result_.tokens.size()) >= params_->max_new_tokens) {
      finish(StopReason::kMaxTokens);
      return std::nullopt;
    }
    return token;
  }

  void finish(StopReason reason) {
    if (done_) return;
    done_ = true;
    result_.stop_reason = reason;
    if (reason != StopReason::kStopString) {
      result_.text += detokenizer_.finish();
      emit(result_.text.size());
    }
  }

 private:
  // Appends decoded text and emits what can no longer become part of a stop
  // string. Returns true when the sequence stopped (stop string or callback).
  bool append_text(const std::string& piece) {
    std::string& text = result_.text;
    const std::size_t search_from = emitted_ > max_stop_ ? emitted_ - max_stop_ : 0;
    text += piece;
    std::size_t first_match = std::string::npos;
    for (const std::string& stop : params_->stop) {
      if (stop.empty()) continue;
      first_match = std::min(first_match, text.find(stop, search_from));
    }
    if (first_match != std::string::npos) {
      text.resize(first_match);
      emit(text.size());
      done_ = true;
      result_.stop_reason = StopReason::kStopString;
      return true;
    }
    // Hold back the longest tail of the text that is a prefix of a stop string.
    std::size_t hold = 0;
    for (const std::string& stop : params_->stop) {
      for (std::size_t n = std::min(stop.size() - 1, text.size()); n > hold; --n) {
        if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
          hold = n;
          break;
        }
      }
    }
    if (!emit(text.size() - hold)) {
      finish(StopReason::kCallback);
      return true;
    }
    return false;
  }

  bool emit(std::size_t end) {
    if (end <= emitted_) return true;
    const std::string_view fresh(result_.text.data() + emitted_, end - emitted_);
    emitted_ = end;
    return !(on_text_ && *on_text_) || (*on_text_)(fresh);
  }

  const tokenizer::Tokenizer* tokenizer_;
  const GenerationParams* params_;
  const TextCallback* on_text_;
  model::Sampler sampler_;
  tokenizer::Detokenizer detokenizer_;
  GenerationResult result_;
  std::size_t max_stop_ = 0;
  std::size_t emitted_ = 0;  // bytes of result_.text already passed to on_text
  bool done_ = false;
};

}  // namespace

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kEndOfGeneration: return "eog";
    case StopReason::kStopString: return "stop";
    case StopReason::kMaxTokens: return "length";
    case StopReason::kContextFull: return "context";
    case StopReason::kCallback: return "callback";
  }
  return "unknown";
}

Generator::Generator(const model::Model& model, const tokenizer::Tokenizer& tokenizer,
                     kernels::KernelContext& kernels, const GeneratorOptions& options)
    : model_(&model),
      tokenizer_(&tokenizer),
      options_(options),
      cache_(model.hparams(), options.n_ctx, options.n_seq),
      decoder_(model, cache_, kernels),
      cached_(static_cast<std::size_t>(options.n_seq)) {
  if (options.n_batch < 1) throw Error(fmt::format("batch size {} must be at least 1", options.n_batch));
}

std::span<const float> Generator::prefill(int seq, std::span<const std::int32_t> prompt, Timings& timings) {
  if (prompt.empty()) throw Error("the prompt has no tokens");
  const auto n_prompt = static_cast<std::int64_t>(prompt.size());
  if (n_prompt > cache_.n_ctx()) {
    throw Error(fmt::format("the prompt has {} tokens but the context size is {} (raise --ctx or shorten the prompt)",
                            n_prompt, cache_.n_ctx()));
  }
  // Reuse the cached common prefix, but always evaluate at least the last token for its logits.
  std::vector<std::int32_t>& cached = cached_.at(static_cast<std::size_t>(seq));
  const auto common = static_cast<std::int64_t>(
      std::mismatch(cached.begin(), cached.end(), prompt.begin(), prompt.end()).first - cached.begin());
  const std::int64_t reuse = std::min(common, n_prompt - 1);
  cache_.truncate(seq, reuse);
  cached.resize(static_cast<std::size_t>(reuse));

  const auto start = std::chrono::steady_clock::now();
  std::span<const float> logits;
  for (std::int64_t begin = reuse; begin < n_prompt; begin += options_.n_batch) {
    const std::int64_t n = std::min(options_.n_batch, n_prompt - begin);
    const model::SequenceInput input{seq, prompt.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(n)),
                                     false};
    logits = decoder_.decode({&input, 1});
    cached.insert(cached.end(), input.tokens.begin(), input.tokens.end());
  }
  timings.n_reused += reuse;
  timings.n_prompt += n_prompt - reuse;
  timings.prompt_seconds += seconds_since(start);
  return logits;
}

void Generator::reset_sequence(int seq) {
  cache_.truncate(seq, 0);
  cached_.at(static_cast<std::size_t>(seq)).clear();
}

GenerationResult Generator::generate(std::span<const std::int32_t> prompt, const GenerationParams& params,
                                     const TextCallback& on_text, const LogitsCallback& on_logits, int seq) {
  SequenceRun run(*tokenizer_, params, &on_text);
  Timings& timings = run.result().timings;
  std::span<const float> logits = prefill(seq, prompt, timings);
  if (params.max_new_tokens <= 0) {
    run.finish(StopReason::kMaxTokens);
    return std::move(run.result());
  }

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::int32_t>& cached = cached_[static_cast<std::size_t>(seq)];
  while (true) {
    const std::optional<std::int32_t> token = run.step(logits, &on_logits);
    if (!token) break;
    if (cache_.length(seq) >= cache_.n_ctx()) {
      run.finish(StopReason::kContextFull);
      break;
    }
    const model::SequenceInput input{seq, {&*token, 1}, false};
    logits = decoder_.decode({&input, 1});
    cached.push_back(*token);
    ++timings.n_generated;
  }
  timings.generate_seconds = seconds_since(start);
  return std::move(run.result());
}

std::vector<GenerationResult> Generator::generate_batch(
    std::span<const std::vector<std::int32_t>> prompts, const GenerationParams& params, std::span<const int> seqs,
    const std::function<void(std::size_t index, std::span<const float> logits)>& on_prompt_logits) {
  if (prompts.size() > static_cast<std::size_t>(cache_.n_seq())) {
    throw Error(fmt::format("{} prompts exceed the generator's {} sequences (raise n_seq)", prompts.size(), cache_.n_seq()));
  }
  if (!seqs.empty() && seqs.size() != prompts.size()) {
    throw Error(fmt::format("generate_batch: {} sequence ids for {} prompts", seqs.size(), prompts.size()));
  }
  const std::size_t n_seq = prompts.size();
  // seq_of[s]: the KV-cache sequence of prompt s; each must be distinct and in range.
  std::vector<int> seq_of(n_seq);
  for (std::size_t s = 0; s < n_seq; ++s) {
    seq_of[s] = seqs.empty() ? static_cast<int>(s) : seqs[s];
    if (seq_of[s] < 0 || seq_of[s] >= cache_.n_seq() ||
        std::find(seq_of.begin(), seq_of.begin() + static_cast<std::ptrdiff_t>(s), seq_of[s]) !=
            seq_of.begin() + static_cast<std::ptrdiff_t>(s)) {
      throw Error(fmt::format("generate_batch: sequence id {} is out of range or repeated", seq_of[s]));
    }
  }
  std::vector<SequenceRun> runs;
  runs.reserve(n_seq);
  std::vector<std::vector<float>> logits(n_seq);
  for (std::size_t s = 0; s < n_seq; ++s) {
    runs.emplace_back(*tokenizer_, params, nullptr);
    const auto row = prefill(seq_of[s], prompts[s], runs[s].result().timings);
    logits[s].assign(row.begin(), row.end());
    if (on_prompt_logits) on_prompt_logits(s, logits[s]);
    if (params.max_new_tokens <= 0) runs[s].finish(StopReason::kMaxTokens);
  }

  const auto n_vocab = static_cast<std::size_t>(model_->hparams().n_vocab);
  std::vector<std::int32_t> next(n_seq);
  std::vector<model::SequenceInput> inputs;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    inputs.clear();
    for (std::size_t s = 0; s < n_seq; ++s) {
      if (runs[s].done()) continue;
      const std::optional<std::int32_t> token = runs[s].step(logits[s], nullptr);
      if (!token) continue;
      if (cache_.length(seq_of[s]) >= cache_.n_ctx()) {
        runs[s].finish(StopReason::kContextFull);
        continue;
      }
      next[s] = *token;
      inputs.push_back({seq_of[s], {&next[s], 1}, false});
    }
    if (inputs.empty()) break;
    const auto out = decoder_.decode(inputs);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      // Map the KV-cache sequence back to its prompt index.
      const auto s = static_cast<std::size_t>(
          std::find(seq_of.begin(), seq_of.end(), inputs[i].seq) - seq_of.begin());
      logits[s].assign(out.begin() + static_cast<std::ptrdiff_t>(i * n_vocab),
                       out.begin() + static_cast<std::ptrdiff_t>((i + 1) * n_vocab));
      cached_[static_cast<std::size_t>(seq_of[s])].push_back(next[s]);
      ++runs[s].result().timings.n_generated;
    }
  }
  const double elapsed = seconds_since(start);
  std::vector<GenerationResult> results;
  for (SequenceRun& run : runs) {
    run.result().timings.generate_seconds = elapsed;
    results.push_back(std::move(run.result()));
  }
  return results;
}

}  // namespace qrag::engine
