// nanoPELICAN stages A (inputs) and C (pair invariants).
//
// Same stage sequence and casts as nanotrig/fixed/kernel.py, the bit-accurate golden model.
// Particles: the two beams first (when CONFIG_T::beams), then the N constituents.
#ifndef NNET_NANOPELICAN_PAIRS_H_
#define NNET_NANOPELICAN_PAIRS_H_

namespace nnet {

// A: a constituent is present iff its energy word is > 0. Its words go to the products as they
// are; the invariants of a pair with an absent constituent are zeroed after the cast (C).
template <class input_T, typename CONFIG_T>
void nanopelican_inputs(const input_T jet[CONFIG_T::n_const * 4], input_T p[CONFIG_T::n_const][4],
                        bool valid[CONFIG_T::n_part], unsigned &m) {
    #pragma HLS INLINE
    const unsigned nb = CONFIG_T::n_part - CONFIG_T::n_const;
    unsigned count = 0;
    for (unsigned b = 0; b < nb; b++) {
        #pragma HLS UNROLL
        valid[b] = true;
    }
    for (unsigned k = 0; k < CONFIG_T::n_const; k++) {
        #pragma HLS UNROLL
        const bool present = jet[4 * k] > 0;
        valid[nb + k] = present;
        count += present;
        for (unsigned c = 0; c < 4; c++) {
            #pragma HLS UNROLL
            p[k][c] = jet[4 * k + c];
        }
    }
    m = count; // table index: M - M_min = number of present constituents
}

// C: d_ij = p_i . p_j (Minkowski) for constituent pairs i < j only, computed once and wired to
// both d[i][j] and d[j][i]: 4 multipliers per pair, the only general multipliers of the design.
// Beam pairs need no multiplier: b+.p = E - pz, b-.p = E + pz, b+.b- = 2. d_ii = 0 (massless).
template <class input_T, typename CONFIG_T>
void nanopelican_pair_invariants(const input_T p[CONFIG_T::n_const][4], const bool valid[CONFIG_T::n_part],
                                 typename CONFIG_T::d_t d[CONFIG_T::n_part][CONFIG_T::n_part]) {
    #pragma HLS INLINE
    #pragma HLS ALLOCATION operation instances=mul limit=CONFIG_T::multiplier_limit
    const unsigned nb = CONFIG_T::n_part - CONFIG_T::n_const;
    for (unsigned i = 0; i < CONFIG_T::n_part; i++) {
        #pragma HLS UNROLL
        d[i][i] = 0;
    }
    if (CONFIG_T::beams) {
        d[0][1] = d[1][0] = CONFIG_T::beam_beam();
        for (unsigned k = 0; k < CONFIG_T::n_const; k++) {
            #pragma HLS UNROLL
            const typename CONFIG_T::d_t plus =
                wrap_top<typename CONFIG_T::d_t>(p[k][0] - p[k][3], CONFIG_T::d_drop(0, nb + k)); // b+ = (1, 0, 0, +1)
            const typename CONFIG_T::d_t minus =
                wrap_top<typename CONFIG_T::d_t>(p[k][0] + p[k][3], CONFIG_T::d_drop(1, nb + k)); // b- = (1, 0, 0, -1)
            const bool present = valid[nb + k];
            d[0][nb + k] = d[nb + k][0] = present ? plus : typename CONFIG_T::d_t(0);
            d[1][nb + k] = d[nb + k][1] = present ? minus : typename CONFIG_T::d_t(0);
        }
    }
    for (unsigned i = 0; i < CONFIG_T::n_const; i++) {
        #pragma HLS UNROLL
        for (unsigned j = i + 1; j < CONFIG_T::n_const; j++) {
            #pragma HLS UNROLL
            // each product in d_product_t (the low bits the adds take), exact sums (ap_fixed
            // widens), one cast to the pair's type
            typedef typename CONFIG_T::d_product_t prod_t;
            const typename CONFIG_T::d_t dij = wrap_top<typename CONFIG_T::d_t>(
                prod_t(p[i][0] * p[j][0]) - prod_t(p[i][1] * p[j][1]) - prod_t(p[i][2] * p[j][2]) -
                    prod_t(p[i][3] * p[j][3]),
                CONFIG_T::d_drop(nb + i, nb + j));
            const bool both = valid[nb + i] && valid[nb + j];
            d[nb + i][nb + j] = d[nb + j][nb + i] = both ? dij : typename CONFIG_T::d_t(0);
        }
    }
}

} // namespace nnet

#endif
