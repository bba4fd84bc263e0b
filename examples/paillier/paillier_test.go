package main

import (
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/goray/ray/internal/codec"
)

func TestPaillier(t *testing.T) {
	pk, sk, err := GenerateKeyPair(rand.Reader, 256)
	if err != nil {
		t.Fatal(err)
	}
	if pk.N.BitLen() != 256 {
		t.Fatalf("n has %d bits, want 256", pk.N.BitLen())
	}
	for _, m := range []int{0, 1, 42, 1 << 40} {
		c, err := pk.EncryptInt(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sk.Decrypt(c)
		if err != nil {
			t.Fatal(err)
		}
		if got.Int64() != int64(m) {
			t.Errorf("Decrypt(Encrypt(%d)) = %v", m, got)
		}
	}
	c1, _ := pk.EncryptInt(20)
	c2, _ := pk.EncryptInt(22)
	if got, _ := sk.Decrypt(pk.Add(c1, c2)); got.Int64() != 42 {
		t.Errorf("Decrypt(E(20)+E(22)) = %v, want 42", got)
	}
}

// TestCodecRoundTrip checks that a public key and ciphertexts survive
// goray's value codec (the encoding used for task arguments and results).
func TestCodecRoundTrip(t *testing.T) {
	pk, sk, err := GenerateKeyPair(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.Marshal(*pk)
	if err != nil {
		t.Fatal(err)
	}
	var pk2 PublicKey
	if err := codec.Unmarshal(b, &pk2); err != nil {
		t.Fatal(err)
	}
	if pk2.N.Cmp(pk.N) != 0 || pk2.G.Cmp(pk.G) != 0 || pk2.NSquare.Cmp(pk.NSquare) != 0 {
		t.Fatalf("public key changed in a round trip: %+v != %+v", pk2, *pk)
	}
	b, err = codec.Marshal(pk) // as a pointer, too
	if err != nil {
		t.Fatal(err)
	}
	var pp *PublicKey
	if err := codec.Unmarshal(b, &pp); err != nil || pp.N.Cmp(pk.N) != 0 {
		t.Fatalf("*PublicKey round trip: %v, %v", pp, err)
	}

	cs := []*big.Int{big.NewInt(0), big.NewInt(7), new(big.Int).Lsh(big.NewInt(1), 100)}
	c, _ := pk.EncryptInt(12345)
	cs = append(cs, c)
	b, err = codec.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	var cs2 []*big.Int
	if err := codec.Unmarshal(b, &cs2); err != nil {
		t.Fatal(err)
	}
	if len(cs2) != len(cs) {
		t.Fatalf("got %d ciphertexts, want %d", len(cs2), len(cs))
	}
	for i := range cs {
		if cs2[i].Cmp(cs[i]) != 0 {
			t.Errorf("element %d: %v != %v", i, cs2[i], cs[i])
		}
	}
	if m, _ := sk.Decrypt(cs2[3]); m.Int64() != 12345 {
		t.Errorf("decrypting a round-tripped ciphertext gave %v", m)
	}
}
