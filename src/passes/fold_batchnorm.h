// BatchNormalization folding (DFQ step 0) and the small IR helpers the DFQ passes share.
//
// fold_batchnorm folds every BatchNormalization that reads the output of a Conv with no
// other reader into that Conv: w' = w*gamma/sqrt(var+eps), b' = (b-mean)*gamma/sqrt(var+eps)
// + beta (arithmetic: fold_bn_into_conv). The Conv takes over the BN's output name and the
// BN node is removed; a missing bias gets a fresh initializer. The FP32 function is kept.
//
// The returned BnStats keep, per folded Conv (by node name), the BN's gamma and beta. The
// folded conv's output is gamma*(z-mean)/sigma + beta, so with a normalised z it is
// ~N(beta, gamma^2) per channel: the pre-activation mean/std that DFQ's high-bias absorption
// and bias correction use. Passes that rescale a conv's output channels (CLE) or shift its
// bias (absorption) must update the entry; equalize_cross_layer and absorb_high_bias do.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_edit.h"

namespace dfmpc {

struct BnParams {
  std::vector<float> gamma;  // std of the pre-activation per output channel (may be < 0)
  std::vector<float> beta;   // mean of the pre-activation per output channel
};
using BnStats = std::map<std::string, BnParams>;  // keyed by Conv node name

BnStats fold_batchnorm(Graph& g);

}  // namespace dfmpc
