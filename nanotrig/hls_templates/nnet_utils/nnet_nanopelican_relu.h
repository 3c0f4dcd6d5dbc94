// nanoPELICAN stages E and F for one hidden channel h: the per-particle terms, the per-pair
// ReLU terms (adds only, thanks to the folding: the d_ij coefficient is exactly +-1) and the
// adder trees. Same casts as nanotrig/fixed/kernel.py.
#ifndef NNET_NANOPELICAN_RELU_H_
#define NNET_NANOPELICAN_RELU_H_

namespace nnet {

template <typename CONFIG_T>
void nanopelican_channel(const unsigned h, const unsigned m,
                         const typename CONFIG_T::d_t d[CONFIG_T::n_part][CONFIG_T::n_part],
                         const typename CONFIG_T::r_t r[CONFIG_T::n_part], const typename CONFIG_T::T_t t,
                         const bool valid[CONFIG_T::n_part], typename CONFIG_T::A_t &a_out,
                         typename CONFIG_T::D_t &d_out) {
    #pragma HLS INLINE
    const unsigned P = CONFIG_T::n_part;

    // E: per jet and per particle. The coefficients are constants (constant multipliers, built
    // from shift-adds in fabric) or ROMs indexed by the multiplicity (N^alpha models).
    const typename CONFIG_T::pair_bias_t c = CONFIG_T::pair_T(h, m) * t + CONFIG_T::pair_const(h, m);
    const typename CONFIG_T::diag_bias_t e = CONFIG_T::diag_T(h, m) * t + CONFIG_T::diag_const(h, m);
    typename CONFIG_T::u_t u[CONFIG_T::n_part];
    typename CONFIG_T::v_t v[CONFIG_T::n_part];
    typename CONFIG_T::y_t y[CONFIG_T::n_part];
    #pragma HLS ARRAY_PARTITION variable=u complete
    #pragma HLS ARRAY_PARTITION variable=v complete
    #pragma HLS ARRAY_PARTITION variable=y complete
    #pragma HLS BIND_OP variable=u op=mul impl=fabric
    #pragma HLS BIND_OP variable=v op=mul impl=fabric
    #pragma HLS BIND_OP variable=y op=mul impl=fabric
    for (unsigned i = 0; i < P; i++) {
        #pragma HLS UNROLL
        u[i] = wrap_top<typename CONFIG_T::u_t>(CONFIG_T::pair_row(h, m) * r[i] + c, CONFIG_T::u_drop(h, i));
        v[i] = wrap_top<typename CONFIG_T::v_t>(CONFIG_T::pair_col(h, m) * r[i], CONFIG_T::v_drop(h, i));
        y[i] = wrap_top<typename CONFIG_T::y_t>(CONFIG_T::diag_r(h, m) * r[i] + e, CONFIG_T::y_drop(h, i));
    }

    // E + F: per ordered pair i != j, z = +-d_ij + u_i + v_j; ReLU; masked by the valid bits;
    // summed by one adder tree per channel.
    typename CONFIG_T::A_acc_t pair_sum = 0;
    for (unsigned i = 0; i < P; i++) {
        #pragma HLS UNROLL
        for (unsigned j = 0; j < P; j++) {
            #pragma HLS UNROLL
            if (i == j)
                continue;
            typename CONFIG_T::z_t z;
            if (CONFIG_T::sign(h) > 0)
                z = d[i][j] + u[i] + v[j];
            else
                z = u[i] + v[j] - d[i][j];
            z = wrap_top<typename CONFIG_T::z_t>(z, CONFIG_T::z_drop(h, i, j));
            if (valid[i] && valid[j] && z > 0)
                pair_sum += z;
        }
    }
    a_out = pair_sum;

    // F: the diagonal terms, one adder tree
    typename CONFIG_T::D_acc_t diag_sum = 0;
    for (unsigned i = 0; i < P; i++) {
        #pragma HLS UNROLL
        if (valid[i] && y[i] > 0)
            diag_sum += y[i];
    }
    d_out = diag_sum;
}

} // namespace nnet

#endif
