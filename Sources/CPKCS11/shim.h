#ifndef BUREAU_CPKCS11_SHIM_H
#define BUREAU_CPKCS11_SHIM_H
/* The PKCS#11 (Cryptoki 2.40) types and constants from Debian's libp11-kit-dev. Nothing is linked:
   BureauKeys dlopens the token's own module (SoftHSM2, an HSM vendor's library) at run time. */
#if __has_include(<p11-kit/pkcs11.h>)
#include <p11-kit/pkcs11.h>
#else
#include <p11-kit-1/p11-kit/pkcs11.h>
#endif
#endif
