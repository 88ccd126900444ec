package curve

import (
	"github.com/btcsuite/btcd/btcec/v2"
)

// affinePoint is a point (x, y) of y² = x³ + 7; never infinity.
type affinePoint struct{ x, y fe }

// jacobian is the point (X/Z², Y/Z³), or infinity when Z = 0.
type jacobian struct{ x, y, z fe }

func infinity() jacobian { return jacobian{x: fe{1}, y: fe{1}} }

func (p *jacobian) isInfinity() bool { return p.z.isZero() }

func (p *jacobian) setAffine(a *affinePoint) { p.x, p.y, p.z = a.x, a.y, fe{1} }

// double sets p = 2p, for a = 0: with A = X², B = Y², C = B², D = 4·X·B,
// E = 3·A, X' = E² − 2·D, Y' = E·(D − X') − 8·C, Z' = 2·Y·Z (dbl-2009-l
// with D made by a multiplication, which here costs what a squaring does).
func (p *jacobian) double() {
	var a, b, c, d, e, t fe
	a.square(&p.x)
	b.square(&p.y)
	c.square(&b)
	d.mul(&p.x, &b)
	d.mulSmall(&d, 4)
	e.mulSmall(&a, 3)
	p.z.mul(&p.y, &p.z)
	p.z.mulSmall(&p.z, 2)
	p.x.square(&e)
	t.mulSmall(&d, 2)
	p.x.sub(&p.x, &t)
	p.y.sub(&d, &p.x)
	p.y.mul(&p.y, &e)
	t.mulSmall(&c, 8)
	p.y.sub(&p.y, &t)
}

// addAffine sets p = p + a (madd-2007-bl), handling p = ±a and infinity.
func (p *jacobian) addAffine(a *affinePoint) {
	if p.isInfinity() {
		p.setAffine(a)
		return
	}
	var z1z1, u2, s2, h, hh, i, j, r, v fe
	z1z1.square(&p.z)
	u2.mul(&a.x, &z1z1)
	s2.mul(&a.y, &p.z)
	s2.mul(&s2, &z1z1)
	h.sub(&u2, &p.x)
	r.sub(&s2, &p.y)
	if h.isZero() {
		if r.isZero() { // p = a
			p.setAffine(a)
			p.double()
		} else { // p = −a
			*p = infinity()
		}
		return
	}
	r.double(&r)
	hh.square(&h)
	i.double(&hh)
	i.double(&i)
	j.mul(&h, &i)
	v.mul(&p.x, &i)
	x3, y3 := sumXY(&r, &j, &v, &p.y)
	p.z.add(&p.z, &h)
	p.z.square(&p.z)
	p.z.sub(&p.z, &z1z1)
	p.z.sub(&p.z, &hh)
	p.x, p.y = x3, y3
}

// sumXY is the common end of both additions: X' = r² − J − 2·V and
// Y' = r·(V − X') − 2·S₁·J.
func sumXY(r, j, v, s1 *fe) (x3, y3 fe) {
	var t fe
	x3.square(r)
	x3.sub(&x3, j)
	t.double(v)
	x3.sub(&x3, &t)
	y3.sub(v, &x3)
	y3.mul(&y3, r)
	t.mul(s1, j)
	t.double(&t)
	y3.sub(&y3, &t)
	return x3, y3
}

// add sets p = p + q for Jacobian q (add-2007-bl), handling p = ±q and
// infinity.
func (p *jacobian) add(q *jacobian) {
	if q.isInfinity() {
		return
	}
	if p.isInfinity() {
		*p = *q
		return
	}
	var z1z1, z2z2, u1, u2, s1, s2, h, i, j, r, v fe
	z1z1.square(&p.z)
	z2z2.square(&q.z)
	u1.mul(&p.x, &z2z2)
	u2.mul(&q.x, &z1z1)
	s1.mul(&p.y, &q.z)
	s1.mul(&s1, &z2z2)
	s2.mul(&q.y, &p.z)
	s2.mul(&s2, &z1z1)
	h.sub(&u2, &u1)
	r.sub(&s2, &s1)
	if h.isZero() {
		if r.isZero() {
			p.double()
		} else {
			*p = infinity()
		}
		return
	}
	i.double(&h)
	i.square(&i)
	j.mul(&h, &i)
	r.double(&r)
	v.mul(&u1, &i)
	x3, y3 := sumXY(&r, &j, &v, &s1)
	var z3 fe
	z3.add(&p.z, &q.z)
	z3.square(&z3)
	z3.sub(&z3, &z1z1)
	z3.sub(&z3, &z2z2)
	z3.mul(&z3, &h)
	p.x, p.y, p.z = x3, y3, z3
}

// toAffine returns p in affine coordinates, or false for infinity.
func (p *jacobian) toAffine() (affinePoint, bool) {
	if p.isInfinity() {
		return affinePoint{}, false
	}
	var zInv, zInv2 fe
	zInv.inverse(&p.z)
	zInv2.square(&zInv)
	var a affinePoint
	a.x.mul(&p.x, &zInv2)
	a.y.mul(&p.y, &zInv2)
	a.y.mul(&a.y, &zInv)
	return a, true
}

func affineOf(k *btcec.PublicKey) affinePoint {
	xy := k.SerializeUncompressed()
	return affinePoint{x: feFromBytes((*[32]byte)(xy[1:33])), y: feFromBytes((*[32]byte)(xy[33:65]))}
}

func (a *affinePoint) publicKey() *btcec.PublicKey {
	xb, yb := a.x.bytes(), a.y.bytes()
	var x, y btcec.FieldVal
	x.SetBytes(&xb)
	y.SetBytes(&yb)
	return btcec.NewPublicKey(&x, &y)
}

// compressed is the SEC 1 compressed encoding.
func (a *affinePoint) compressed() [33]byte {
	var out [33]byte
	out[0] = 0x02
	if a.y.isOdd() {
		out[0] = 0x03
	}
	x := a.x.bytes()
	copy(out[1:], x[:])
	return out
}

// onCurve reports whether y² = x³ + 7 with x, y below p.
func (a *affinePoint) onCurve() bool {
	if a.x.canonical() != a.x || a.y.canonical() != a.y {
		return false
	}
	var lhs, rhs fe
	lhs.square(&a.y)
	rhs.square(&a.x)
	rhs.mul(&rhs, &a.x)
	rhs.add(&rhs, &fe{7})
	return lhs.equal(&rhs)
}
