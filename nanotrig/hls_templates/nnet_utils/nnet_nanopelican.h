// nanoPELICAN top-quark tagger: the whole network as one fused, fully unrolled kernel.
//
//   Cartesian inputs:  void nanopelican(input_t jet[4*N], result_t score[1])
//   PUPPI inputs:      void nanopelican(input_pt_t input_pt[N], input_eta_t input_eta[N],
//                                       input_phi_t input_phi[N], result_t score[1])
//
// jet[4k+c]: constituent k (leading pT first), component c = (E, px, py, pz), raw input words;
// absent constituents are zero words (any word with E <= 0 is ignored). PUPPI: pT, eta, phi of
// constituent k, the angles in steps of pi/720; absent constituents have pT = 0. score[0]: the
// tagger output w (top iff w > threshold). The stage sequence, every type and every cast are
// those of the bit-accurate emulator nanotrig/fixed/kernel.py; the types, sizes and coefficient
// tables come from the generated config struct in parameters.h (see nanopelican_config below).
#ifndef NNET_NANOPELICAN_H_
#define NNET_NANOPELICAN_H_

#include "nnet_common.h"
#include "nnet_nanopelican_wrap.h"
#include "nnet_nanopelican_aggregates.h"
#include "nnet_nanopelican_output.h"
#include "nnet_nanopelican_pairs.h"
#include "nnet_nanopelican_puppi.h"
#include "nnet_nanopelican_relu.h"

namespace nnet {

// What a generated config provides (parameters.h derives from this and fills everything in).
struct nanopelican_config {
    static const unsigned n_const = 20;        // N constituents
    static const unsigned n_part = 22;         // N + 2 beams (or N without beams)
    static const bool beams = true;
    static const unsigned n_hidden = 2;        // C channels
    static const unsigned reuse_factor = 1;    // II of the pipeline
    static const unsigned multiplier_limit = 760; // 4 N (N - 1) / 2 / reuse_factor
    // typedefs d_t, r_term_t, r_t, T_t, pair_bias_t, u_t, v_t, z_t, A_t, diag_bias_t, y_t, D_t (Cartesian: d_product_t);
    // exact accumulators r_acc_t, T_acc_t, A_acc_t, D_acc_t, result_acc_t;
    // static functions sign(h), beam_beam(), pair_row(h, m), ..., out_const(m);
    // per-index integer bits: d_drop(i, j), r_drop(i), u_drop(h, i), v_drop(h, i), y_drop(h, i),
    // z_drop(h, i, j), the top bits each element's own type has fewer than its stage's (0: none).
};

// D to G: everything after the pair invariants, shared by both input front-ends.
template <class result_T, typename CONFIG_T>
void nanopelican_core(const typename CONFIG_T::d_t d[CONFIG_T::n_part][CONFIG_T::n_part],
                      const bool valid[CONFIG_T::n_part], const unsigned m, result_T score[1]) {
    #pragma HLS INLINE
    typename CONFIG_T::r_t r[CONFIG_T::n_part];
    typename CONFIG_T::T_t t;
    typename CONFIG_T::A_t a_sum[CONFIG_T::n_hidden];
    typename CONFIG_T::D_t d_sum[CONFIG_T::n_hidden];
    #pragma HLS ARRAY_PARTITION variable=r complete
    #pragma HLS ARRAY_PARTITION variable=a_sum complete
    #pragma HLS ARRAY_PARTITION variable=d_sum complete
    nanopelican_aggregates<CONFIG_T>(d, r, t);                   // D
    for (unsigned h = 0; h < CONFIG_T::n_hidden; h++) {         // E, F
        #pragma HLS UNROLL
        nanopelican_channel<CONFIG_T>(h, m, d, r, t, valid, a_sum[h], d_sum[h]);
    }
    nanopelican_output<result_T, CONFIG_T>(m, a_sum, d_sum, score); // G
}

// Cartesian inputs (E, px, py, pz).
template <class input_T, class result_T, typename CONFIG_T>
void nanopelican(const input_T jet[CONFIG_T::n_const * 4], result_T score[1]) {
    #pragma HLS INLINE
    input_T p[CONFIG_T::n_const][4];
    bool valid[CONFIG_T::n_part];
    typename CONFIG_T::d_t d[CONFIG_T::n_part][CONFIG_T::n_part];
    #pragma HLS ARRAY_PARTITION variable=p complete dim=0
    #pragma HLS ARRAY_PARTITION variable=valid complete
    #pragma HLS ARRAY_PARTITION variable=d complete dim=0
    unsigned m;

    nanopelican_inputs<input_T, CONFIG_T>(jet, p, valid, m);     // A
    nanopelican_pair_invariants<input_T, CONFIG_T>(p, valid, d); // C (B, the jet sums, is folded into D)
    nanopelican_core<result_T, CONFIG_T>(d, valid, m, score);    // D .. G
}

// PUPPI inputs (pT, eta, phi): the massless front-end.
template <class pt_T, class eta_T, class phi_T, class result_T, typename CONFIG_T>
void nanopelican(const pt_T pt[CONFIG_T::n_const], const eta_T eta[CONFIG_T::n_const],
                 const phi_T phi[CONFIG_T::n_const], result_T score[1]) {
    #pragma HLS INLINE
    bool valid[CONFIG_T::n_part];
    typename CONFIG_T::d_t d[CONFIG_T::n_part][CONFIG_T::n_part];
    #pragma HLS ARRAY_PARTITION variable=valid complete
    #pragma HLS ARRAY_PARTITION variable=d complete dim=0
    unsigned m;

    nanopelican_puppi_invariants<pt_T, eta_T, phi_T, CONFIG_T>(pt, eta, phi, d, valid, m); // A, C
    nanopelican_core<result_T, CONFIG_T>(d, valid, m, score);                               // D .. G
}

} // namespace nnet

#endif
