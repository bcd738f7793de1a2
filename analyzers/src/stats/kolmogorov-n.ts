/**
 * Survival function P(D_n ≥ x) of the one-sample two-sided Kolmogorov–Smirnov statistic D_n for a finite n,
 * the distribution scipy.stats.kstwo implements. ks.ts uses it for the asymptotic two-sample p-value, as
 * scipy.stats.ks_2samp does (SciPy 1.17.1).
 *
 * Methods and cut-offs per region are those of SciPy 1.17.1 (scipy/stats/_ksstats.py, which follows Simard
 * and L'Ecuyer, Journal of Statistical Software 39(11), 2011):
 * - n·x ≤ 1 and n·x ≥ n − 1: the closed forms of Ruben and Gambino;
 * - x ≥ 0.5, or n·x² large enough that the two one-sided tails barely overlap: 2 × the exact one-sided
 *   tail of Birnbaum and Tingey (Miller's approximation, exact for x ≥ 0.5);
 * - otherwise the exact CDF by the Durbin matrix (Marsaglia, Tsang and Wang 2003), or for large n the
 *   Pelz–Good asymptotic series.
 * NOTE: for n ≤ 140 and 0.754693 < n·x² ≤ 4 SciPy uses Pomeranz's recursion; this module uses the Durbin
 * matrix there, which computes the same exact CDF.
 */

/**
 * Computes P(D_n ≥ x) for the two-sided one-sample KS statistic.
 * @param n - Sample size, a positive integer.
 * @param x - Statistic value.
 * @returns The survival probability, from 0 to 1.
 * @throws RangeError when n is not a positive integer.
 */
export function kolmogorovFiniteSurvival(n: number, x: number): number {
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`Invalid sample size ${n}: expected a positive integer.`);
  }
  if (x >= 1) {
    return 0;
  }
  if (x <= 0) {
    return 1;
  }

  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) {
      return 1;
    }
    // Ruben–Gambino: P(D_n < x) = n!/n^n · (2t − 1)^n for 1/(2n) ≤ x ≤ 1/n.
    return clamp(1 - Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1)));
  }
  if (t >= n - 1) {
    return clamp(2 * (1 - x) ** n);
  }
  if (x >= 0.5) {
    return clamp(2 * smirnovSurvival(n, x));
  }

  const nxSquared = t * x;
  if (n <= 140) {
    if (nxSquared <= 4) {
      return clamp(1 - durbinMatrixCdf(n, x));
    }
    return clamp(2 * smirnovSurvival(n, x));
  }

  if (nxSquared >= 370) {
    return 0;
  }
  if (nxSquared >= 2.2) {
    return clamp(2 * smirnovSurvival(n, x));
  }
  if (n <= 100_000 && n * x ** 1.5 <= 1.4) {
    return clamp(1 - durbinMatrixCdf(n, x));
  }
  return clamp(1 - pelzGoodCdf(n, x));
}

/**
 * Computes the exact one-sided tail P(D+_n ≥ x) by the Birnbaum–Tingey sum
 * x · Σ_{j=0}^{⌊n(1−x)⌋} C(n, j) (1 − x − j/n)^(n−j) (x + j/n)^(j−1), each term in logarithms.
 * @param n - Sample size.
 * @param x - Statistic value in (0, 1).
 * @returns The probability.
 */
export function smirnovSurvival(n: number, x: number): number {
  const lastJ = Math.floor(n * (1 - x));
  let logBinomial = 0;
  let sum = 0;

  for (let j = 0; j <= lastJ; j += 1) {
    if (j > 0) {
      logBinomial += Math.log(n - j + 1) - Math.log(j);
    }
    // Terms with 1 − x − j/n = 0 vanish, because j ≤ n(1 − x) < n keeps their power n − j positive.
    const lower = 1 - x - j / n;
    if (lower > 0) {
      sum += Math.exp(logBinomial + (n - j) * Math.log(lower) + (j - 1) * Math.log(x + j / n));
    }
  }
  return x * sum;
}

/** Computes ln(n!/n^n) as a sum, exact to rounding for every n this module meets. */
function logFactorialOverPower(n: number): number {
  let total = 0;
  for (let i = 1; i <= n; i += 1) {
    total += Math.log(i / n);
  }
  return total;
}

// Entries of the matrix power are rescaled by 2^−SCALE_BITS when they grow past 2^SCALE_BITS.
const SCALE_BITS = 256;
const SCALE_UP = 2 ** SCALE_BITS;

/**
 * Computes the exact CDF P(D_n < x) with the Durbin matrix as Marsaglia, Tsang and Wang (2003) evaluate it:
 * with n·x = k − h (k an integer, 0 ≤ h < 1) and an m×m matrix H, m = 2k − 1,
 * P(D_n < x) = n!/n^n · (H^n)[k−1][k−1]. The power keeps a separate binary exponent so nothing overflows.
 * @param n - Sample size.
 * @param x - Statistic value.
 * @returns The CDF value.
 */
export function durbinMatrixCdf(n: number, x: number): number {
  const nx = n * x;
  const k = Math.ceil(nx);
  const h = k - nx;
  const m = 2 * k - 1;

  // H[i][j] = 1/(i − j + 1)! on and below the first superdiagonal, with corrections in the first column
  // and the last row.
  const inverseFactorials = [1];
  for (let i = 1; i <= m; i += 1) {
    inverseFactorials.push((inverseFactorials[i - 1] ?? 0) / i);
  }
  const matrix = new Float64Array(m * m);
  for (let i = 0; i < m; i += 1) {
    for (let j = 0; j < m; j += 1) {
      const order = i - j + 1;
      matrix[i * m + j] = order >= 0 ? (inverseFactorials[order] ?? 0) : 0;
    }
  }
  for (let i = 0; i < m; i += 1) {
    matrix[i * m] = (matrix[i * m] ?? 0) - h ** (i + 1) * (inverseFactorials[i + 1] ?? 0);
    const lastRow = (m - 1) * m + i;
    matrix[lastRow] = (matrix[lastRow] ?? 0) - h ** (m - i) * (inverseFactorials[m - i] ?? 0);
  }
  if (2 * h - 1 > 0) {
    matrix[(m - 1) * m] = (matrix[(m - 1) * m] ?? 0) + (2 * h - 1) ** m * (inverseFactorials[m] ?? 0);
  }

  const { value: diagonal, exponent } = matrixPowerEntry(matrix, m, n, k - 1);

  // Multiply by n!/n^n one factor at a time, moving scale into the exponent.
  let value = diagonal;
  let totalExponent = exponent;
  for (let i = 1; i <= n; i += 1) {
    value = (value * i) / n;
    if (Math.abs(value) < 1 / SCALE_UP) {
      value *= SCALE_UP;
      totalExponent -= SCALE_BITS;
    }
  }
  return value * 2 ** totalExponent;
}

/** Computes entry [index][index] of matrix^power as value · 2^exponent, by repeated squaring. */
function matrixPowerEntry(
  matrix: Float64Array,
  size: number,
  power: number,
  index: number
): { value: number; exponent: number } {
  let base = matrix;
  let baseExponent = 0;
  let result: Float64Array | undefined;
  let resultExponent = 0;
  let remaining = power;

  while (remaining > 0) {
    if (remaining % 2 === 1) {
      result = result === undefined ? base.slice() : multiply(result, base, size);
      resultExponent += baseExponent;
      const scaled = rescale(result, index * size + index);
      resultExponent += scaled;
    }
    remaining = Math.floor(remaining / 2);
    if (remaining > 0) {
      base = multiply(base, base, size);
      baseExponent *= 2;
      baseExponent += rescale(base, index * size + index);
    }
  }
  return { value: result?.[index * size + index] ?? 1, exponent: resultExponent };
}

function multiply(a: Float64Array, b: Float64Array, size: number): Float64Array {
  const product = new Float64Array(size * size);
  for (let i = 0; i < size; i += 1) {
    for (let l = 0; l < size; l += 1) {
      const left = a[i * size + l] ?? 0;
      if (left === 0) {
        continue;
      }
      for (let j = 0; j < size; j += 1) {
        product[i * size + j] = (product[i * size + j] ?? 0) + left * (b[l * size + j] ?? 0);
      }
    }
  }
  return product;
}

/** Divides the matrix by 2^SCALE_BITS when the watched entry grew past it; returns the exponent added. */
function rescale(matrix: Float64Array, watchedEntry: number): number {
  if (Math.abs(matrix[watchedEntry] ?? 0) <= SCALE_UP) {
    return 0;
  }
  for (let i = 0; i < matrix.length; i += 1) {
    matrix[i] = (matrix[i] ?? 0) / SCALE_UP;
  }
  return SCALE_BITS;
}

/**
 * Computes the Pelz–Good (1976) approximation of P(D_n ≤ x): K0(z) + K1(z)/√n + K2(z)/n + K3(z)/n^1.5 with
 * z = x·√n, each K written as theta-function sums that converge fast for small z.
 * @param n - Sample size.
 * @param x - Statistic value.
 * @returns The approximate CDF.
 */
export function pelzGoodCdf(n: number, x: number): number {
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const pi2 = Math.PI ** 2;
  const pi4 = pi2 * pi2;
  const pi6 = pi4 * pi2;

  // Below this the leading term exp(−π²/(8z²)) underflows and the CDF is 0.
  if (-pi2 / (8 * z2) < -745) {
    return 0;
  }

  // Sums over odd m = 2k − 1 with weight exp(−π²m²/(8z²)).
  const terms = Math.ceil((16 * z) / Math.PI);
  let k0 = 0;
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  for (let k = 1; k <= terms; k += 1) {
    const m2 = (2 * k - 1) ** 2;
    const weight = Math.exp((-pi2 * m2) / (8 * z2));
    k0 += weight;
    k1 += (-z2 + (pi2 * m2) / 4) * weight;
    k2 +=
      (6 * z6 + 2 * z4 + ((2 * z4 - 5 * z2) * pi2 * m2) / 4 + (pi4 * (1 - 2 * z2) * m2 * m2) / 16) * weight;
    k3 +=
      (-30 * z6 -
        90 * z6 * z2 +
        (pi2 * (135 * z4 - 96 * z6) * m2) / 4 +
        (pi4 * (212 * z4 - 60 * z2) * m2 * m2) / 16 +
        (pi6 * (5 - 30 * z2) * m2 * m2 * m2) / 64) *
      weight;
  }
  const root2Pi = Math.sqrt(2 * Math.PI);
  k0 *= root2Pi / z;
  k1 *= root2Pi / (6 * z4);
  k2 *= root2Pi / (72 * z6 * z);
  k3 *= root2Pi / (6480 * z6 * z4);

  // Sums over all k with weight exp(−π²k²/(2z²)).
  let k2Extra = 0;
  let k3Extra = 0;
  for (let k = 1; k <= terms; k += 1) {
    const k2Squared = k * k;
    const weight = Math.exp((-pi2 * k2Squared) / (2 * z2));
    k2Extra += k2Squared * weight;
    k3Extra += (3 * z2 - pi2 * k2Squared) * k2Squared * weight;
  }
  k2 -= (pi2 * root2Pi * k2Extra) / (36 * z2 * z);
  k3 += (pi2 * root2Pi * k3Extra) / (216 * z6);

  return k0 + k1 / Math.sqrt(n) + k2 / n + k3 / n ** 1.5;
}

function clamp(value: number): number {
  return Math.min(1, Math.max(0, value));
}
