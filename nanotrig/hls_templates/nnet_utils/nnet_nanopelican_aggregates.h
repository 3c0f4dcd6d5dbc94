// nanoPELICAN stage D: row sums r_i and their total T, by adding the pair invariants (O(N)
// adders per row, no p_i . J multipliers), each cast to r_term_t first (low bits dropped: r
// keeps a far coarser LSB than z needs of d). Accumulators are wide enough to be exact; each
// result is one cast, as in nanotrig/fixed/kernel.py.
#ifndef NNET_NANOPELICAN_AGGREGATES_H_
#define NNET_NANOPELICAN_AGGREGATES_H_

namespace nnet {

template <typename CONFIG_T>
void nanopelican_aggregates(const typename CONFIG_T::d_t d[CONFIG_T::n_part][CONFIG_T::n_part],
                            typename CONFIG_T::r_t r[CONFIG_T::n_part], typename CONFIG_T::T_t &t) {
    #pragma HLS INLINE
    typename CONFIG_T::T_acc_t total = 0;
    for (unsigned i = 0; i < CONFIG_T::n_part; i++) {
        #pragma HLS UNROLL
        typename CONFIG_T::r_acc_t row = 0;
        for (unsigned k = 0; k < CONFIG_T::n_part; k++) {
            #pragma HLS UNROLL
            // d_ii = 0 and absent particles have d = 0: no masking needed
            row += typename CONFIG_T::r_term_t(d[i][k]);
        }
        r[i] = wrap_top<typename CONFIG_T::r_t>(row, CONFIG_T::r_drop(i));
        total += r[i];
    }
    t = total;
}

} // namespace nnet

#endif
