// nanoPELICAN stage G: w = out_const[M] + sum_h out_pair_h[M] A_h + out_diag_h[M] D_h, summed
// exactly, then one cast to the score type.
#ifndef NNET_NANOPELICAN_OUTPUT_H_
#define NNET_NANOPELICAN_OUTPUT_H_

namespace nnet {

template <class result_T, typename CONFIG_T>
void nanopelican_output(const unsigned m, const typename CONFIG_T::A_t a_sum[CONFIG_T::n_hidden],
                        const typename CONFIG_T::D_t d_sum[CONFIG_T::n_hidden], result_T score[1]) {
    #pragma HLS INLINE
    typename CONFIG_T::result_acc_t w = CONFIG_T::out_const(m);
    for (unsigned h = 0; h < CONFIG_T::n_hidden; h++) {
        #pragma HLS UNROLL
        w += CONFIG_T::out_pair(h, m) * a_sum[h] + CONFIG_T::out_diag(h, m) * d_sum[h];
    }
    score[0] = w;
}

} // namespace nnet

#endif
