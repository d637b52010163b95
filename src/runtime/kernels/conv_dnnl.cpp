// ConvKernel: oneDNN convolution_forward (inference) with a fused epilogue, on plain NCHW.
//
// Layouts: the caller's x / y / residual are plain NCHW. oneDNN chooses the layouts of the
// weights, src and dst (format_tag::any); on AVX2 it picks 8-channel blocked layouts
// (nChw8c), measured 1.4-8x faster than plain NCHW (gemm) even counting the reorders in/out,
// so run() reorders x in and y out when the chosen layout is not plain. Weights are reordered
// once at construction; a batch size whose primitive wants another weights layout gets its
// own copy (made once). Primitives, reorders and buffers are cached per batch size.
// Epilogue = bias (in the conv) + `sum` post-op (residual, preloaded into dst) + eltwise.
// The executor uses it only for grouped (depthwise) convolutions; the others run on the
// blocked layout (conv_blocked.h), whose non-Winograd geometries are also in this file.
#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/conv_blocked.h"
#include "runtime/kernels/conv_padding.h"
#include "runtime/kernels/thread_pool.h"

namespace dfmpc {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// ---- threads -------------------------------------------------------------------------------
// libdnnl here is built with OpenMP (libgomp), which reaches us only through libdnnl, so the
// OpenMP entry points are looked up at run time rather than linked directly.
std::atomic<int> g_num_threads{0};  // 0 = library default

template <class F>
F omp_fn(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}
void omp_set(int n) {
  static const auto f = omp_fn<void (*)(int)>("omp_set_num_threads");
  if (f && n > 0) f(n);
}
int omp_max() {
  static const auto f = omp_fn<int (*)()>("omp_get_max_threads");
  return f ? f() : 0;
}
int omp_default() {  // the default, read before we first change anything
  static const int d = omp_max();
  return d;
}

// OpenMP thread counts are per calling thread: apply the requested count on the thread that
// runs the kernel (one cheap call when already in effect). The blocked kernels run oneDNN
// single-threaded inside the dfmpc pool and leave 1 behind, so the default is restored too.
void apply_num_threads() {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  const int want = n > 0 ? n : omp_default();
  if (want > 0 && omp_max() != want) omp_set(want);
}

void single_omp_thread() {
  if (omp_max() != 1) omp_set(1);
}

std::string describe(const ConvGeom& g) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "conv c_in=" + s(g.c_in) + " c_out=" + s(g.c_out) + " in=" + s(g.h) + "x" + s(g.w) +
         " k=" + s(g.kh) + "x" + s(g.kw) + " stride=" + s(g.stride_h) + "x" + s(g.stride_w) +
         " dil=" + s(g.dil_h) + "x" + s(g.dil_w) + " pads=" + s(g.pad_t) + "," + s(g.pad_l) +
         "," + s(g.pad_b) + "," + s(g.pad_r) + " groups=" + s(g.groups);
}

// The forward-inference direct convolution of geometry g (oneDNN counts dilation from 0).
dnnl::convolution_forward::desc direct_conv_desc(const ConvGeom& g, const memory::desc& src_md,
                                                 const memory::desc& w_md, const memory::desc& b_md,
                                                 const memory::desc& dst_md) {
  return dnnl::convolution_forward::desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, w_md, b_md,
      dst_md, {g.stride_h, g.stride_w}, {g.dil_h - 1, g.dil_w - 1}, {g.pad_t, g.pad_l},
      {g.pad_b, g.pad_r});
}

// The fused epilogue as post-ops; the scratchpad is ours, allocated once per primitive.
dnnl::primitive_attr epilogue_attr(const Epilogue& ep) {
  dnnl::post_ops po;
  if (ep.add_residual) po.append_sum(1.0f);
  if (ep.act == Activation::relu) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0, 0);
  if (ep.act == Activation::clip)
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, ep.clip_lo, ep.clip_hi);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

}  // namespace

void set_num_threads(int n) {
  omp_default();  // remember the default before the first change
  g_num_threads.store(n > 0 ? n : 0);
  omp_set(n > 0 ? n : omp_default());
  pool::set_threads(n > 0 ? n : 0);
}

struct ConvKernel::Impl {
  struct Entry {  // everything run() needs for one batch size
    dnnl::convolution_forward prim;
    std::unordered_map<int, memory> args;
    memory src, dst;            // in the conv's layouts (wrap x / y when those are plain)
    memory user_src, user_dst;  // plain NCHW wrappers of x / y (and residual)
    dnnl::reorder src_in, dst_in, dst_out;
    bool reorder_src = false, reorder_dst = false;
  };

  ConvGeom g;       // what oneDNN computes: user_g, explicitly padded when prepad
  ConvGeom user_g;  // what the caller asked for
  bool prepad = false;
  std::vector<float> padded;  // the padded input when prepad (its border stays zero)
  Epilogue ep;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::vector<float> w_plain;      // OIHW copy: source for extra weight reorders
  memory bias;                     // empty if no bias
  std::vector<memory> weights;     // reordered weights, one per layout seen
  std::map<int64_t, Entry> cache;  // per batch size

  memory::dims weights_dims() const {
    if (g.groups == 1) return {g.c_out, g.c_in, g.kh, g.kw};
    return {g.groups, g.c_out / g.groups, g.c_in / g.groups, g.kh, g.kw};
  }
  memory::desc plain_src(int64_t n) const { return {{n, g.c_in, g.h, g.w}, dt::f32, tag::nchw}; }
  memory::desc plain_dst(int64_t n) const {
    return {{n, g.c_out, g.out_h(), g.out_w()}, dt::f32, tag::nchw};
  }

  dnnl::convolution_forward::primitive_desc make_pd(int64_t n) const {
    const memory::desc src_md(plain_src(n).dims(), dt::f32, tag::any);
    const memory::desc dst_md(plain_dst(n).dims(), dt::f32, tag::any);
    const memory::desc w_md(weights_dims(), dt::f32, tag::any);
    const memory::desc b_md = bias ? bias.get_desc() : memory::desc();  // zero desc: no bias
    return {direct_conv_desc(g, src_md, w_md, b_md, dst_md), epilogue_attr(ep), eng};
  }

  // Weights in layout `md`, reordered from the plain copy the first time that layout is seen.
  memory weights_for(const memory::desc& md) {
    for (const memory& m : weights)
      if (m.get_desc() == md) return m;
    const memory::desc plain_md(weights_dims(), dt::f32, g.groups == 1 ? tag::oihw : tag::goihw);
    memory plain(plain_md, eng, w_plain.data());
    memory out(md, eng);
    dnnl::reorder(plain, out).execute(strm, plain, out);
    strm.wait();
    weights.push_back(out);
    return out;
  }

  Entry& entry(int64_t n) {
    if (auto it = cache.find(n); it != cache.end()) return it->second;
    const auto pd = make_pd(n);
    Entry e;
    e.prim = dnnl::convolution_forward(pd);
    e.reorder_src = pd.src_desc() != plain_src(n);
    e.reorder_dst = pd.dst_desc() != plain_dst(n);
    e.user_src = memory(plain_src(n), eng, DNNL_MEMORY_NONE);
    e.user_dst = memory(plain_dst(n), eng, DNNL_MEMORY_NONE);
    e.src = e.reorder_src ? memory(pd.src_desc(), eng) : e.user_src;
    e.dst = e.reorder_dst ? memory(pd.dst_desc(), eng) : e.user_dst;
    if (e.reorder_src) e.src_in = dnnl::reorder(e.user_src, e.src);
    if (e.reorder_dst) {
      e.dst_in = dnnl::reorder(e.user_dst, e.dst);
      e.dst_out = dnnl::reorder(e.dst, e.user_dst);
    }
    e.args = {{DNNL_ARG_SRC, e.src},
              {DNNL_ARG_WEIGHTS, weights_for(pd.weights_desc())},
              {DNNL_ARG_DST, e.dst},
              {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), eng)}};
    if (bias) e.args.emplace(DNNL_ARG_BIAS, bias);
    return cache.emplace(n, std::move(e)).first->second;
  }

  void run(int64_t n, const float* x, const float* residual, float* y) {
    Entry& e = entry(n);
    e.user_src.set_data_handle(const_cast<float*>(x));
    if (e.reorder_src) e.src_in.execute(strm, e.user_src, e.src);
    if (ep.add_residual) {  // the `sum` post-op accumulates onto whatever dst holds
      if (e.reorder_dst) {
        e.user_dst.set_data_handle(const_cast<float*>(residual));
        e.dst_in.execute(strm, e.user_dst, e.dst);
      } else if (residual != y) {
        std::memcpy(y, residual, plain_dst(n).get_size());
      }
    }
    e.user_dst.set_data_handle(y);
    e.prim.execute(strm, e.args);
    if (e.reorder_dst) e.dst_out.execute(strm, e.dst, e.user_dst);
    strm.wait();
  }
};

ConvKernel::ConvKernel(const ConvGeom& g, const float* w, const float* bias, const Epilogue& ep)
    : impl_(std::make_unique<Impl>()) {
  if (g.c_in <= 0 || g.c_out <= 0 || g.groups <= 0 || g.c_in % g.groups || g.c_out % g.groups ||
      g.stride_h <= 0 || g.stride_w <= 0 || g.dil_h <= 0 || g.dil_w <= 0 || g.out_h() <= 0 ||
      g.out_w() <= 0)
    throw std::runtime_error("ConvKernel: invalid geometry: " + describe(g));
  try {
    impl_->user_g = g;
    impl_->prepad = has_padding_only_outputs(g);
    impl_->g = impl_->prepad ? explicitly_padded(g) : g;
    impl_->ep = ep;
    impl_->w_plain.assign(w, w + g.weight_numel());
    if (bias) {
      impl_->bias = memory({{g.c_out}, dt::f32, tag::x}, impl_->eng);
      std::memcpy(impl_->bias.get_data_handle(), bias, sizeof(float) * g.c_out);
    }
    omp_default();
    impl_->entry(1);  // builds the batch-1 primitive and reorders the weights
  } catch (const dnnl::error& e) {
    throw std::runtime_error("ConvKernel: oneDNN failed for " + describe(g) + ": " + e.what());
  }
}

ConvKernel::~ConvKernel() = default;

const ConvGeom& ConvKernel::geom() const { return impl_->user_g; }

void ConvKernel::run(int64_t n, const float* x, const float* residual, float* y) {
  if (n <= 0) return;
  if (impl_->ep.add_residual && !residual)
    throw std::runtime_error("ConvKernel::run: the epilogue adds a residual but none was given");
  try {
    apply_num_threads();
    if (impl_->prepad) {
      const ConvGeom& p = impl_->g;
      impl_->padded.resize(n * p.c_in * p.h * p.w);
      pad_input(impl_->user_g, n, p.c_in, 1, x, impl_->padded.data());
      x = impl_->padded.data();
    }
    impl_->run(n, x, residual, y);
  } catch (const dnnl::error& err) {
    throw std::runtime_error("ConvKernel::run: oneDNN failed for " + describe(impl_->user_g) +
                             " n=" + std::to_string(n) + ": " + err.what());
  }
}

// ---- blocked layout (nChw8c) direct convolution ---------------------------------------------
// For the geometries the Winograd kernel does not take. The batch is split into chunks run on
// the dfmpc pool, each by a single-threaded oneDNN primitive (one per chunk size, cached); a
// batch smaller than the thread count splits a large layer's output channels instead. Where
// oneDNN has only its reference kernel for a blocked source (fewer than 8 input channels),
// the source is reordered per call to the layout of a JIT kernel.
namespace {

class DnnlBlockedConv final : public detail::BlockedConvImpl {
 public:
  DnnlBlockedConv(const ConvGeom& g, const float* w, const float* bias, const Epilogue& ep)
      : g_(g), ep_(ep), w_plain_(w, w + g.weight_numel()) {
    omp_default();
    if (bias) {
      bias_ = memory({{g.c_out}, dt::f32, tag::x}, eng_);
      std::memcpy(bias_.get_data_handle(), bias, sizeof(float) * g.c_out);
    }
    entry(1);  // fails early for a geometry oneDNN rejects
  }

  // Safe to call concurrently (the executor runs micro-batches on several threads).
  void run(int64_t n, const float* x, const float* residual, float* y) override {
    const int threads = std::max(1, pool::concurrency());
    const int64_t src_img = ((g_.c_in + 7) / 8) * 8 * g_.h * g_.w;
    const int64_t dst_img = ((g_.c_out + 7) / 8) * 8 * g_.out_h() * g_.out_w();
    if (threads > 1 && n < threads && (g_.c_out + 7) / 8 >= 2 && split_worthwhile()) {
      // Fewer images than threads (batch 1 at 224x224): split the output channels instead,
      // one single-threaded primitive per range of 8-channel blocks, per image.
      std::vector<const Entry*> parts;
      {
        std::lock_guard<std::mutex> lk(mu_);
        parts = channel_parts(threads);
      }
      const int64_t np = static_cast<int64_t>(parts.size()), hw8 = g_.out_h() * g_.out_w() * 8;
      pool::parallel_for(n * np, [&](int64_t item, int) {
        single_omp_thread();
        const int64_t b = item / np;
        const Entry& e = *parts[item % np];
        float* yc = y + b * dst_img + e.cb0 * hw8;
        if (ep_.add_residual && residual != y)
          std::memcpy(yc, residual + b * dst_img + e.cb0 * hw8, sizeof(float) * (e.cb1 - e.cb0) * hw8);
        execute(e, x + b * src_img, yc);
        if (e.cb1 * 8 > g_.c_out) zero_padded_channels(yc + (e.cb1 - e.cb0 - 1) * hw8, 1, 0);
      });
      return;
    }
    const int64_t chunk = threads == 1 ? n : std::max<int64_t>(1, (n + 2 * threads - 1) / (2 * threads));
    const int64_t chunks = (n + chunk - 1) / chunk;
    const Entry *full, *last;
    {
      std::lock_guard<std::mutex> lk(mu_);
      full = &entry(chunk);
      last = &entry(n - (chunks - 1) * chunk);
    }
    pool::parallel_for(chunks, [&](int64_t i, int) {
      single_omp_thread();
      const int64_t m = std::min(chunk, n - i * chunk);
      const Entry& e = m == chunk ? *full : *last;
      float* yc = y + i * chunk * dst_img;
      if (ep_.add_residual && residual != y)
        std::memcpy(yc, residual + i * chunk * dst_img, sizeof(float) * m * dst_img);
      execute(e, x + i * chunk * src_img, yc);
      zero_padded_channels(yc + ((g_.c_out + 7) / 8 - 1) * g_.out_h() * g_.out_w() * 8, m, dst_img);
    });
  }

 private:
  struct Entry {
    dnnl::convolution_forward prim;
    memory::desc src_user, src, dst, scratch;  // src_user: nChw8c; src: what prim reads
    size_t scratch_bytes = 0;
    memory weights, bias;
    bool reorder_src = false;  // src != src_user: src_reorder fills a per-thread buffer
    dnnl::reorder src_reorder;
    size_t src_bytes = 0;
    int64_t cb0 = 0, cb1 = 0;  // output channels [8 cb0, 8 cb1) (channel_parts)
  };

  // Whether one image is enough work to share out: CIFAR-sized layers (about 1M multiply-adds
  // per image) ran slower split in two (batch 1, 2 threads: 478-533 vs 548-561 img/s on ResNet-56),
  // ImageNet-sized ones (50M and up) nearly twice as fast.
  bool split_worthwhile() const {
    const int64_t macs = g_.c_out * g_.out_h() * g_.out_w() * (g_.c_in / g_.groups) * g_.kh * g_.kw;
    return macs >= (int64_t(8) << 20);
  }

  // One primitive call on one thread: x (nChw8c, the entry's images) -> y.
  void execute(const Entry& e, const float* x, float* y) const {
    thread_local std::vector<char> scratch;
    if (scratch.size() < e.scratch_bytes) scratch.resize(e.scratch_bytes);
    dnnl::stream strm(eng_);
    memory src(e.src_user, eng_, const_cast<float*>(x));
    if (e.reorder_src) {
      thread_local std::vector<float> src_tmp;
      if (src_tmp.size() * sizeof(float) < e.src_bytes) src_tmp.resize(e.src_bytes / sizeof(float) + 1);
      memory conv_src(e.src, eng_, src_tmp.data());
      e.src_reorder.execute(strm, src, conv_src);
      src = conv_src;
    }
    memory dst(e.dst, eng_, y);
    memory pad(e.scratch, eng_, scratch.data());
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, pad}};
    if (e.bias) args.emplace(DNNL_ARG_BIAS, e.bias);
    e.prim.execute(strm, args);
    strm.wait();
  }

  memory::dims weights_dims() const {
    if (g_.groups == 1) return {g_.c_out, g_.c_in, g_.kh, g_.kw};
    return {g_.groups, g_.c_out / g_.groups, g_.c_in / g_.groups, g_.kh, g_.kw};
  }

  // Post-ops (clip) may leave non-zero values in the padding channels of the last block.
  // `last_block`: that block of the first of `m` images, `stride` floats apart.
  void zero_padded_channels(float* last_block, int64_t m, int64_t stride) const {
    const int64_t tail = g_.c_out % 8;
    if (!tail) return;
    const int64_t hw = g_.out_h() * g_.out_w();
    for (int64_t b = 0; b < m; ++b) {
      float* p = last_block + b * stride;
      for (int64_t k = 0; k < hw; ++k)
        for (int64_t j = tail; j < 8; ++j) p[k * 8 + j] = 0.0f;
    }
  }

  // Called with mu_ held. One-image entries for up to `parts` ranges of output-channel blocks
  // (grouped convolutions: one range, the whole). Their weights are views into the batch-1
  // entry's weights where the layout allows (output blocks outermost), else their own copy.
  std::vector<const Entry*> channel_parts(int parts) {
    const int64_t cb = (g_.c_out + 7) / 8;
    const int64_t np = g_.groups == 1 ? std::min<int64_t>(parts, cb) : 1;
    auto& list = parts_[np];
    if (list.empty()) {
      const Entry& whole = entry(1);
      for (int64_t p = 0; p < np; ++p) {
        if (np == 1) {
          list.push_back(std::make_unique<Entry>(whole));
          list.back()->cb1 = cb;
          continue;
        }
        list.push_back(std::make_unique<Entry>(make_entry(1, p * cb / np, (p + 1) * cb / np, &whole)));
      }
    }
    std::vector<const Entry*> out;
    for (const auto& e : list) out.push_back(e.get());
    return out;
  }

  // Called with mu_ held (or from the constructor). Map nodes do not move: references stay valid.
  const Entry& entry(int64_t m) {
    if (auto it = cache_.find(m); it != cache_.end()) return it->second;
    return cache_.emplace(m, make_entry(m, 0, (g_.c_out + 7) / 8, nullptr)).first->second;
  }

  // A primitive for m images and output channels [8 cb0, min(8 cb1, c_out)); `whole` (when
  // a part of the channels) is the full-channel entry whose weights it may share.
  Entry make_entry(int64_t m, int64_t cb0, int64_t cb1, const Entry* whole) {
    // oneDNN fixes a primitive's thread count when it is created: create it single-threaded,
    // as it will run (one chunk per pool thread).
    struct OmpOne {
      int before = omp_max();
      OmpOne() { single_omp_thread(); }
      ~OmpOne() { if (before > 0) omp_set(before); }
    } one;
    const int64_t o0 = 8 * cb0, co = std::min(8 * cb1, g_.c_out) - o0;
    const memory::desc src_md({m, g_.c_in, g_.h, g_.w}, dt::f32, tag::nChw8c);
    const memory::desc dst_md({m, co, g_.out_h(), g_.out_w()}, dt::f32, tag::nChw8c);
    Entry e;
    e.cb0 = cb0, e.cb1 = cb1;
    if (bias_) e.bias = co == g_.c_out ? bias_ : memory({{co}, dt::f32, tag::x}, eng_, static_cast<float*>(bias_.get_data_handle()) + o0);
    dnnl::primitive_attr attr = epilogue_attr(ep_);
    dnnl::convolution_forward::primitive_desc pd(make_desc(src_md, dst_md, co), attr, eng_);
    // oneDNN has no JIT kernel for a blocked source with few input channels (the 3-channel
    // stem of an ImageNet network: 7x7 stride 2, 6 s per 224x224 image on `ref:any`); it has
    // one for a plain NCHW source. Then the chunk's input is reordered to what it picks.
    if (std::string_view(pd.impl_info_str()).starts_with("ref")) {
      const memory::desc any_src({m, g_.c_in, g_.h, g_.w}, dt::f32, tag::any);
      dnnl::convolution_forward::primitive_desc alt(make_desc(any_src, dst_md, co), attr, eng_);
      if (!std::string_view(alt.impl_info_str()).starts_with("ref") && alt.src_desc() != src_md) {
        pd = alt;
        e.src_reorder = dnnl::reorder(memory(src_md, eng_, DNNL_MEMORY_NONE), memory(pd.src_desc(), eng_, DNNL_MEMORY_NONE));
        e.reorder_src = true;
        e.src_bytes = pd.src_desc().get_size();
      }
    }
    e.prim = dnnl::convolution_forward(pd);
    e.src_user = src_md;
    e.src = pd.src_desc();
    e.dst = pd.dst_desc();
    e.scratch = pd.scratchpad_desc();
    e.scratch_bytes = e.scratch.get_size();
    if (co == g_.c_out) {
      e.weights = weights_for(pd.weights_desc());
    } else if (float* view = weights_view(whole->weights, pd.weights_desc(), o0)) {
      e.weights = memory(pd.weights_desc(), eng_, view);
    } else {  // a copy of this range's weights in the layout the part wants
      const memory::desc plain_md({co, g_.c_in, g_.kh, g_.kw}, dt::f32, tag::oihw);
      memory plain(plain_md, eng_, const_cast<float*>(w_plain_.data()) + o0 * g_.c_in * g_.kh * g_.kw);
      e.weights = memory(pd.weights_desc(), eng_);
      dnnl::stream s(eng_);
      dnnl::reorder(plain, e.weights).execute(s, plain, e.weights);
      s.wait();
    }
    return e;
  }

  // Where the weights of output channels from o0 on start inside `whole` (weights of all
  // output channels), if `part` (the layout a part's primitive wants) is the same layout
  // with output blocks outermost, so that a range of them is one contiguous slice; else null.
  static float* weights_view(const memory& whole, const memory::desc& part, int64_t o0) {
    const dnnl_memory_desc_t& w = whole.get_desc().data;
    const dnnl_memory_desc_t& p = part.data;
    if (w.format_kind != dnnl_blocked || p.format_kind != dnnl_blocked || w.ndims != p.ndims ||
        w.data_type != dnnl_f32 || p.data_type != dnnl_f32 || w.offset0 != 0 || p.offset0 != 0 ||
        w.extra.flags != 0 || p.extra.flags != 0)
      return nullptr;
    const dnnl_blocking_desc_t &wb = w.format_desc.blocking, &pb = p.format_desc.blocking;
    if (wb.inner_nblks != pb.inner_nblks) return nullptr;
    int64_t oblk = 1;
    for (int k = 0; k < wb.inner_nblks; ++k) {
      if (wb.inner_blks[k] != pb.inner_blks[k] || wb.inner_idxs[k] != pb.inner_idxs[k]) return nullptr;
      if (wb.inner_idxs[k] == 0) oblk *= wb.inner_blks[k];
    }
    if (o0 % oblk) return nullptr;
    for (int d = 1; d < w.ndims; ++d) {
      if (w.padded_dims[d] != p.padded_dims[d] || wb.strides[d] != pb.strides[d]) return nullptr;
      if (wb.strides[d] > wb.strides[0] || pb.strides[d] > pb.strides[0]) return nullptr;  // O not outermost
    }
    if (pb.strides[0] != wb.strides[0]) return nullptr;
    return static_cast<float*>(whole.get_data_handle()) + (o0 / oblk) * wb.strides[0];
  }

  dnnl::convolution_forward::desc make_desc(const memory::desc& src_md, const memory::desc& dst_md,
                                            int64_t co) const {
    memory::dims wd = weights_dims();
    if (co != g_.c_out) wd[0] = co;  // groups == 1
    const memory::desc w_md(wd, dt::f32, tag::any);
    const memory::desc b_md = bias_ ? memory::desc({co}, dt::f32, tag::x) : memory::desc();
    return direct_conv_desc(g_, src_md, w_md, b_md, dst_md);
  }

  memory weights_for(const memory::desc& md) {
    for (const memory& w : weights_)
      if (w.get_desc() == md) return w;
    const memory::desc plain_md(weights_dims(), dt::f32, g_.groups == 1 ? tag::oihw : tag::goihw);
    memory plain(plain_md, eng_, w_plain_.data());
    memory out(md, eng_);
    dnnl::stream s(eng_);
    dnnl::reorder(plain, out).execute(s, plain, out);
    s.wait();
    weights_.push_back(out);
    return out;
  }

  ConvGeom g_;
  Epilogue ep_;
  std::vector<float> w_plain_;
  dnnl::engine eng_{dnnl::engine::kind::cpu, 0};
  memory bias_;
  std::vector<memory> weights_;
  std::mutex mu_;  // guards cache_, weights_ and parts_
  std::map<int64_t, Entry> cache_;
  std::map<int64_t, std::vector<std::unique_ptr<Entry>>> parts_;  // channel_parts(), per part count
};

// The blocked direct convolution of a geometry with padding-only outputs, on an explicitly
// padded copy of the input (conv_padding.h). Rare geometries: the copy is made per call.
class PrePaddedBlockedConv final : public detail::BlockedConvImpl {
 public:
  PrePaddedBlockedConv(const ConvGeom& g, const float* w, const float* bias, const Epilogue& ep)
      : g_(g), inner_(explicitly_padded(g), w, bias, ep) {}
  void run(int64_t n, const float* x, const float* residual, float* y) override {
    const ConvGeom p = explicitly_padded(g_);
    const int64_t blocks = (g_.c_in + 7) / 8;
    std::vector<float> padded(n * blocks * p.h * p.w * 8);
    pad_input(g_, n, blocks, 8, x, padded.data());
    inner_.run(n, padded.data(), residual, y);
  }

 private:
  ConvGeom g_;
  DnnlBlockedConv inner_;
};

}  // namespace

std::unique_ptr<detail::BlockedConvImpl> detail::make_dnnl_blocked_conv(const ConvGeom& g, const float* w,
                                                                        const float* bias, const Epilogue& ep) {
  try {
    if (has_padding_only_outputs(g)) return std::make_unique<PrePaddedBlockedConv>(g, w, bias, ep);
    return std::make_unique<DnnlBlockedConv>(g, w, bias, ep);
  } catch (const dnnl::error& e) {
    throw std::runtime_error("BlockedConvKernel: oneDNN failed for " + describe(g) + ": " + e.what());
  }
}

BlockedConvKernel::BlockedConvKernel(const ConvGeom& g, const float* w, const float* bias,
                                     const Epilogue& ep, Algo algo)
    : g_(g), ep_(ep) {
  if (g.c_in <= 0 || g.c_out <= 0 || g.groups <= 0 || g.c_in % g.groups || g.c_out % g.groups ||
      g.stride_h <= 0 || g.stride_w <= 0 || g.dil_h <= 0 || g.dil_w <= 0 || g.out_h() <= 0 ||
      g.out_w() <= 0)
    throw std::runtime_error("BlockedConvKernel: invalid geometry: " + describe(g));
  if (algo != Algo::direct) impl_ = detail::make_winograd_conv(g, w, bias, ep);
  if (!impl_ && algo == Algo::winograd)
    throw std::runtime_error("BlockedConvKernel: Winograd does not apply to " + describe(g));
  winograd_ = impl_ != nullptr;
  if (!impl_) impl_ = detail::make_dnnl_blocked_conv(g, w, bias, ep);
}

BlockedConvKernel::~BlockedConvKernel() = default;

void BlockedConvKernel::run(int64_t n, const float* x, const float* residual, float* y) {
  if (n <= 0) return;
  if (ep_.add_residual && !residual)
    throw std::runtime_error("BlockedConvKernel::run: the epilogue adds a residual but none was given");
  try {
    impl_->run(n, x, residual, y);
  } catch (const dnnl::error& err) {
    throw std::runtime_error("BlockedConvKernel::run: oneDNN failed for " + describe(g_) +
                             " n=" + std::to_string(n) + ": " + err.what());
  }
}

}  // namespace dfmpc
