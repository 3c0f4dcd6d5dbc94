// Per-index types (nanotrig FixedPointSpec.index_bits): an element of a stage may have fewer
// integer bits than the stage's type, at the same LSB. Its cast is the stage's cast followed by a
// wrap to the narrower width (two wraps are one wrap at the narrower width), here as keeping the
// low bits and sign-extending from the new top bit. The drop counts are constants of the fully
// unrolled loops, so the shifts are wiring and the bits above the new top are never used.
#ifndef NNET_NANOPELICAN_WRAP_H_
#define NNET_NANOPELICAN_WRAP_H_

#include "ap_fixed.h"

namespace nnet {

// x (a signed, wrapping ap_fixed T) as the element type with `drop` fewer integer bits
template <class T> T wrap_top(const T x, const unsigned drop) {
    #pragma HLS INLINE
    ap_int<T::width> bits = x.range(T::width - 1, 0);
    bits <<= int(drop);
    bits >>= int(drop); // arithmetic: copies of the new sign bit
    T out;
    out.range(T::width - 1, 0) = bits.range(T::width - 1, 0);
    return out;
}

} // namespace nnet

#endif
