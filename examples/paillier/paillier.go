package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// A small Paillier cryptosystem (additively homomorphic public-key
// encryption), standing in for the seed's python-paillier (phe). It uses
// g = n+1, as phe does, so g^m mod n² is simply 1 + m·n.

// PublicKey crosses process boundaries as a task argument, so its fields
// are exported: goray encodes values as CBOR, which carries *big.Int as a
// bignum (tags 2 and 3) or, when it fits, as a plain integer.
type PublicKey struct {
	N       *big.Int // n = p·q
	G       *big.Int // g = n + 1
	NSquare *big.Int // n², the ciphertext modulus
}

// PrivateKey never leaves the driver.
type PrivateKey struct {
	Public PublicKey
	Lambda *big.Int // φ(n) = (p-1)(q-1)
	Mu     *big.Int // λ⁻¹ mod n
}

var one = big.NewInt(1)

// GenerateKeyPair makes a key pair whose modulus n has nLength bits, from
// two random primes of nLength/2 bits each.
func GenerateKeyPair(random io.Reader, nLength int) (*PublicKey, *PrivateKey, error) {
	if nLength < 16 || nLength%2 != 0 {
		return nil, nil, fmt.Errorf("paillier: key length %d must be an even number ≥ 16", nLength)
	}
	for {
		p, err := rand.Prime(random, nLength/2)
		if err != nil {
			return nil, nil, err
		}
		q, err := rand.Prime(random, nLength/2)
		if err != nil {
			return nil, nil, err
		}
		if p.Cmp(q) == 0 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != nLength {
			continue
		}
		pm1 := new(big.Int).Sub(p, one)
		qm1 := new(big.Int).Sub(q, one)
		lambda := new(big.Int).Mul(pm1, qm1)
		mu := new(big.Int).ModInverse(lambda, n)
		if mu == nil { // gcd(n, φ(n)) ≠ 1; cannot happen for equal-size primes
			continue
		}
		pub := PublicKey{N: n, G: new(big.Int).Add(n, one), NSquare: new(big.Int).Mul(n, n)}
		return &pub, &PrivateKey{Public: pub, Lambda: lambda, Mu: mu}, nil
	}
}

// Encrypt encrypts m (0 ≤ m < n): c = g^m · r^n mod n² for a random r
// coprime to n.
func (pk *PublicKey) Encrypt(m *big.Int) (*big.Int, error) {
	if m.Sign() < 0 || m.Cmp(pk.N) >= 0 {
		return nil, fmt.Errorf("paillier: plaintext %v out of range [0, n)", m)
	}
	var r *big.Int
	for {
		var err error
		r, err = rand.Int(rand.Reader, pk.N)
		if err != nil {
			return nil, err
		}
		if r.Sign() > 0 && new(big.Int).GCD(nil, nil, r, pk.N).Cmp(one) == 0 {
			break
		}
	}
	// g^m mod n² = (1 + n)^m mod n² = 1 + m·n mod n².
	gm := new(big.Int).Mul(m, pk.N)
	gm.Add(gm, one).Mod(gm, pk.NSquare)
	rn := new(big.Int).Exp(r, pk.N, pk.NSquare)
	return gm.Mul(gm, rn).Mod(gm, pk.NSquare), nil
}

// EncryptInt encrypts a non-negative int.
func (pk *PublicKey) EncryptInt(m int) (*big.Int, error) {
	if m < 0 {
		return nil, errors.New("paillier: negative plaintexts are not supported")
	}
	return pk.Encrypt(big.NewInt(int64(m)))
}

// Add returns a ciphertext of the sum of the plaintexts of c1 and c2.
func (pk *PublicKey) Add(c1, c2 *big.Int) *big.Int {
	c := new(big.Int).Mul(c1, c2)
	return c.Mod(c, pk.NSquare)
}

// Decrypt returns the plaintext of c: L(c^λ mod n²) · μ mod n, where
// L(x) = (x-1)/n.
func (sk *PrivateKey) Decrypt(c *big.Int) (*big.Int, error) {
	pk := &sk.Public
	if c.Sign() <= 0 || c.Cmp(pk.NSquare) >= 0 {
		return nil, errors.New("paillier: ciphertext out of range")
	}
	x := new(big.Int).Exp(c, sk.Lambda, pk.NSquare)
	x.Sub(x, one).Div(x, pk.N)
	return x.Mul(x, sk.Mu).Mod(x, pk.N), nil
}
