// nanoPELICAN stages A and C for PUPPI candidates (pT, eta, phi): massless by construction.
//
// Same stage sequence and casts as nanotrig/fixed/kernel.py (puppi_invariants). eta and phi
// count steps of pi/720. Per constituent pair: one product pT_i pT_j and one product with the
// sum of two ROM values, d_ij = pT_i pT_j (F[|deta|] + G[|dphi|]) with F = cosh - 1 and
// G = 1 - cos, i.e. pT_i pT_j (cosh deta - cos dphi). Per constituent, the beam pairs:
// b+.p = pT exp(-eta), b-.p = pT exp(+eta), one product each. The table indices saturate.
#ifndef NNET_NANOPELICAN_PUPPI_H_
#define NNET_NANOPELICAN_PUPPI_H_

namespace nnet {

template <class pt_T, class eta_T, class phi_T, typename CONFIG_T>
void nanopelican_puppi_invariants(const pt_T pt[CONFIG_T::n_const], const eta_T eta[CONFIG_T::n_const],
                                  const phi_T phi[CONFIG_T::n_const],
                                  typename CONFIG_T::d_t d[CONFIG_T::n_part][CONFIG_T::n_part],
                                  bool valid[CONFIG_T::n_part], unsigned &m) {
    #pragma HLS INLINE
    #pragma HLS ALLOCATION operation instances=mul limit=CONFIG_T::multiplier_limit
    const unsigned nb = CONFIG_T::n_part - CONFIG_T::n_const;
    unsigned count = 0;
    for (unsigned i = 0; i < CONFIG_T::n_part; i++) {
        #pragma HLS UNROLL
        d[i][i] = 0;
    }
    for (unsigned b = 0; b < nb; b++) {
        #pragma HLS UNROLL
        valid[b] = true;
    }
    // A: present iff pT > 0. pT = 0 makes every product of an absent constituent zero, so no
    // word needs masking.
    for (unsigned k = 0; k < CONFIG_T::n_const; k++) {
        #pragma HLS UNROLL
        const bool present = pt[k] > 0;
        valid[nb + k] = present;
        count += present;
    }
    m = count; // table index: M - M_min = number of present constituents
    if (CONFIG_T::beams) {
        d[0][1] = d[1][0] = CONFIG_T::beam_beam();
        for (unsigned k = 0; k < CONFIG_T::n_const; k++) {
            #pragma HLS UNROLL
            const typename CONFIG_T::eta_t e = eta[k]; // saturating table index
            const typename CONFIG_T::d_t plus = wrap_top<typename CONFIG_T::d_t>(
                pt[k] * CONFIG_T::exp_minus(e), CONFIG_T::d_drop(0, nb + k)); // b+ = (1, 0, 0, +1)
            const typename CONFIG_T::d_t minus = wrap_top<typename CONFIG_T::d_t>(
                pt[k] * CONFIG_T::exp_plus(e), CONFIG_T::d_drop(1, nb + k)); // b- = (1, 0, 0, -1)
            d[0][nb + k] = d[nb + k][0] = plus;
            d[1][nb + k] = d[nb + k][1] = minus;
        }
    }
    for (unsigned i = 0; i < CONFIG_T::n_const; i++) {
        #pragma HLS UNROLL
        for (unsigned j = i + 1; j < CONFIG_T::n_const; j++) {
            #pragma HLS UNROLL
            typename CONFIG_T::eta_diff_t de = eta[i] - eta[j]; // exact
            if (de < 0)
                de = -de;
            typename CONFIG_T::phi_diff_t dp = phi[i] - phi[j]; // exact
            if (dp < 0)
                dp = -dp;
            if (dp > CONFIG_T::phi_half_turn) // wrap |dphi| into [0, pi]
                dp = 2 * CONFIG_T::phi_half_turn - dp;
            const typename CONFIG_T::deta_t deta = de; // saturating table indices
            const typename CONFIG_T::dphi_t dphi = dp;
            const typename CONFIG_T::angle_t angle = CONFIG_T::cosh_m1(deta) + CONFIG_T::one_m_cos(dphi);
            const typename CONFIG_T::pt_pair_t pp = pt[i] * pt[j];
            const typename CONFIG_T::d_t dij =
                wrap_top<typename CONFIG_T::d_t>(pp * angle, CONFIG_T::d_drop(nb + i, nb + j));
            d[nb + i][nb + j] = d[nb + j][nb + i] = dij;
        }
    }
}

} // namespace nnet

#endif
