//! HMAC_DRBG with SHA-256 (NIST SP 800-90A Rev. 1, section 10.1.2): the generator behind the
//! `RandomBytes` syscall. The kernel instantiates it from the virtio-rng device at boot and
//! reseeds it from there now and then; this module is only the deterministic mechanism, tested
//! on the host against the NIST CAVP vectors.
//!
//! Security strength 256 bits (the most SHA-256 supports): instantiation needs at least 32 bytes
//! of entropy and a 16-byte nonce. No prediction resistance: the caller decides when to reseed
//! (SP 800-90A allows up to 2^48 requests between reseeds; [`RESEED_INTERVAL`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of SHA-256 output (`outlen` / 8), the size of `K` and `V`.
const OUTLEN: usize = 32;

/// The security strength in bytes (256 bits).
pub const SECURITY_STRENGTH: usize = 32;
/// The least entropy input accepted, in bytes (the security strength).
pub const MIN_ENTROPY: usize = SECURITY_STRENGTH;
/// The least nonce accepted, in bytes (half the security strength, SP 800-90A 8.6.7).
pub const MIN_NONCE: usize = SECURITY_STRENGTH / 2;
/// The most bytes one `generate` may return (`max_number_of_bits_per_request` = 2^19 bits).
pub const MAX_REQUEST: usize = 1 << 16;
/// The most `generate` calls between reseeds (SP 800-90A table 2: 2^48).
pub const RESEED_INTERVAL: u64 = 1 << 48;

/// Why the DRBG refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrbgError {
    /// Less entropy input (or nonce) than the security strength needs.
    NotEnoughEntropy,
    /// More than [`MAX_REQUEST`] bytes asked for at once.
    RequestTooLarge,
    /// [`RESEED_INTERVAL`] requests since the last (re)seed: reseed first.
    ReseedRequired,
}

impl DrbgError {
    /// A short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotEnoughEntropy => "not enough entropy",
            Self::RequestTooLarge => "request too large",
            Self::ReseedRequired => "reseed required",
        }
    }
}

/// The working state of one HMAC_DRBG instance (SP 800-90A 10.1.2.1).
#[derive(Clone)]
pub struct HmacDrbg {
    key: [u8; OUTLEN],
    v: [u8; OUTLEN],
    reseed_counter: u64,
}

impl core::fmt::Debug for HmacDrbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The state is the secret: never print it.
        f.debug_struct("HmacDrbg")
            .field("reseed_counter", &self.reseed_counter)
            .finish_non_exhaustive()
    }
}

impl HmacDrbg {
    /// Instantiate (10.1.2.3): `seed_material = entropy || nonce || personalization`.
    pub fn instantiate(
        entropy: &[u8],
        nonce: &[u8],
        personalization: &[u8],
    ) -> Result<Self, DrbgError> {
        if entropy.len() < MIN_ENTROPY || nonce.len() < MIN_NONCE {
            return Err(DrbgError::NotEnoughEntropy);
        }
        let mut drbg = Self {
            key: [0x00; OUTLEN],
            v: [0x01; OUTLEN],
            reseed_counter: 1,
        };
        drbg.update(&[entropy, nonce, personalization]);
        Ok(drbg)
    }

    /// Reseed (10.1.2.4): `seed_material = entropy || additional`.
    pub fn reseed(&mut self, entropy: &[u8], additional: &[u8]) -> Result<(), DrbgError> {
        if entropy.len() < MIN_ENTROPY {
            return Err(DrbgError::NotEnoughEntropy);
        }
        self.update(&[entropy, additional]);
        self.reseed_counter = 1;
        Ok(())
    }

    /// Generate (10.1.2.5): fills `out` (at most [`MAX_REQUEST`] bytes), mixing in `additional`
    /// before and after. The state moves on even for an empty `out`, as the standard has it.
    pub fn generate(&mut self, out: &mut [u8], additional: &[u8]) -> Result<(), DrbgError> {
        if out.len() > MAX_REQUEST {
            return Err(DrbgError::RequestTooLarge);
        }
        if self.reseed_counter > RESEED_INTERVAL {
            return Err(DrbgError::ReseedRequired);
        }
        if !additional.is_empty() {
            self.update(&[additional]);
        }
        // K is fixed for the whole loop: key the MAC once and clone it per block, which halves
        // the SHA-256 compressions per 32 output bytes (the keyed pads are already absorbed).
        let keyed = self.keyed();
        for chunk in out.chunks_mut(OUTLEN) {
            let mut mac = keyed.clone();
            mac.update(&self.v);
            self.v = mac.finalize().into_bytes().into();
            chunk.copy_from_slice(&self.v[..chunk.len()]);
        }
        self.update(&[additional]);
        self.reseed_counter += 1;
        Ok(())
    }

    /// `generate` calls since the last (re)seed, plus one (the standard's `reseed_counter`).
    pub fn reseed_counter(&self) -> u64 {
        self.reseed_counter
    }

    /// HMAC keyed with the current `K`.
    fn keyed(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; 32 bytes is never refused.
        match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    /// HMAC_DRBG_Update (10.1.2.2) with `provided_data` the concatenation of `provided`.
    fn update(&mut self, provided: &[&[u8]]) {
        let empty = provided.iter().all(|p| p.is_empty());
        for round in [0x00u8, 0x01] {
            // K = HMAC(K, V || round || provided_data)
            let mut mac = self.keyed();
            mac.update(&self.v);
            mac.update(&[round]);
            for part in provided {
                mac.update(part);
            }
            self.key = mac.finalize().into_bytes().into();
            // V = HMAC(K, V)
            let mut mac = self.keyed();
            mac.update(&self.v);
            self.v = mac.finalize().into_bytes().into();
            if empty {
                return;
            }
        }
    }

    #[cfg(test)]
    fn state(&self) -> ([u8; OUTLEN], [u8; OUTLEN]) {
        (self.v, self.key)
    }
}

/// Test vectors: NIST CAVP "DRBG Test Vectors" for SP 800-90A (drbgtestvectors.zip),
/// HMAC_DRBG, [SHA-256], EntropyInputLen 256, NonceLen 128, ReturnedBitsLen 1024 (prediction
/// resistance tests use 256), from the `drbgvectors_no_reseed` and `drbgvectors_pr_false`
/// files; the intermediate V / Key values are the ones the CAVP `.txt` variants print.
#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2), "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    /// A "no reseed" CAVP case: instantiate, generate twice (1024 bits each), compare the
    /// second output.
    struct NoReseed {
        entropy: &'static str,
        nonce: &'static str,
        personalization: &'static str,
        additional: [&'static str; 2],
        returned: &'static str,
    }

    fn run_no_reseed(case: &NoReseed) -> Vec<u8> {
        let mut drbg = HmacDrbg::instantiate(
            &hex(case.entropy),
            &hex(case.nonce),
            &hex(case.personalization),
        )
        .expect("instantiate");
        let mut out = vec![0u8; 128];
        drbg.generate(&mut out, &hex(case.additional[0]))
            .expect("first generate");
        drbg.generate(&mut out, &hex(case.additional[1]))
            .expect("second generate");
        out
    }

    const NO_RESEED: &[NoReseed] = &[
        // [PersonalizationStringLen = 0] [AdditionalInputLen = 0] COUNT = 0
        NoReseed {
            entropy: "ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488",
            nonce: "659ba96c601dc69fc902940805ec0ca8",
            personalization: "",
            additional: ["", ""],
            returned: "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc107694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8",
        },
        // [PersonalizationStringLen = 0] [AdditionalInputLen = 0] COUNT = 1
        NoReseed {
            entropy: "79737479ba4e7642a221fcfd1b820b134e9e3540a35bb48ffae29c20f5418ea3",
            nonce: "3593259c092bef4129bc2c6c9e19f343",
            personalization: "",
            additional: ["", ""],
            returned: "cf5ad5984f9e43917aa9087380dac46e410ddc8a7731859c84e9d0f31bd43655b924159413e2293b17610f211e09f770f172b8fb693a35b85d3b9e5e63b1dc252ac0e115002e9bedfb4b5b6fd43f33b8e0eafb2d072e1a6fee1f159df9b51e6c8da737e60d5032dd30544ec51558c6f080bdbdab1de8a939e961e06b5f1aca37",
        },
        // [PersonalizationStringLen = 0] [AdditionalInputLen = 256] COUNT = 0
        NoReseed {
            entropy: "d3cc4d1acf3dde0c4bd2290d262337042dc632948223d3a2eaab87da44295fbd",
            nonce: "0109b0e729f457328aa18569a9224921",
            personalization: "",
            additional: [
                "3c311848183c9a212a26f27f8c6647e40375e466a0857cc39c4e47575d53f1f6",
                "fcb9abd19ccfbccef88c9c39bfb3dd7b1c12266c9808992e305bc3cff566e4e4",
            ],
            returned: "9c7b758b212cd0fcecd5daa489821712e3cdea4467b560ef5ddc24ab47749a1f1ffdbbb118f4e62fcfca3371b8fbfc5b0646b83e06bfbbab5fac30ea09ea2bc76f1ea568c9be0444b2cc90517b20ca825f2d0eccd88e7175538b85d90ab390183ca6395535d34473af6b5a5b88f5a59ee7561573337ea819da0dcc3573a22974",
        },
        // [PersonalizationStringLen = 256] [AdditionalInputLen = 256] COUNT = 1
        NoReseed {
            entropy: "c2a566a9a1817b15c5c3b778177ac87c24e797be0a845f11c2fe399dd37732f2",
            nonce: "cb1894eb2b97b3c56e628329516f86ec",
            personalization: "13ce4d8dd2db9796f94156c8e8f0769b0aa1c82c1323b61536603bca37c9ee29",
            additional: [
                "413dd83fe56835abd478cb9693d67635901c40239a266462d3133b83e49c820b",
                "d5c4a71f9d6d95a1bedf0bd2247c277d1f84a4e57a4a8825b82a2d097de63ef1",
            ],
            returned: "b3a3698d777699a0dd9fa3f0a9fa57832d3cefac5df24437c6d73a0fe41040f1729038aef1e926352ea59de120bfb7b073183a34106efed6278ff8ad844ba0448115dfddf3319a82de6bb11d80bd871a9acd35c73645e1270fb9fe4fa88ec0e465409ea0cba809fe2f45e04943a2e396bbb7dd2f4e0795303524cc9cc5ea54a1",
        },
    ];

    #[test]
    fn cavp_no_reseed_vectors() {
        for (i, case) in NO_RESEED.iter().enumerate() {
            assert_eq!(run_no_reseed(case), hex(case.returned), "case {i}");
        }
    }

    #[test]
    fn cavp_intermediate_state_after_instantiate_and_generate() {
        // [PersonalizationStringLen = 0] [AdditionalInputLen = 0] COUNT = 0 of the no-reseed
        // file, with the V and Key it prints after each step.
        let mut drbg = HmacDrbg::instantiate(
            &hex("ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488"),
            &hex("659ba96c601dc69fc902940805ec0ca8"),
            &[],
        )
        .expect("instantiate");
        let (v, key) = drbg.state();
        assert_eq!(
            v.to_vec(),
            hex("e75855f93b971ac468d200992e211960202d53cf08852ef86772d6490bfb53f9")
        );
        assert_eq!(
            key.to_vec(),
            hex("302a4aba78412ab36940f4be7b940a0c728542b8b81d95b801a57b3797f9dd6e")
        );
        let mut out = [0u8; 128];
        drbg.generate(&mut out, &[]).expect("generate");
        let (v, key) = drbg.state();
        assert_eq!(
            v.to_vec(),
            hex("bfbdcf455d5c82acafc59f339ce57126ff70b67aef910fa25db7617818faeafe")
        );
        assert_eq!(
            key.to_vec(),
            hex("911bf7cbda4387a172a1a3daf6c9fa8e17c4bfef69cc7eff1341e7eef88d2811")
        );
        assert_eq!(drbg.reseed_counter(), 2);
    }

    /// A "prediction resistance false" CAVP case: instantiate, reseed, generate twice.
    struct WithReseed {
        entropy: &'static str,
        nonce: &'static str,
        personalization: &'static str,
        entropy_reseed: &'static str,
        returned: &'static str,
    }

    const PR_FALSE: &[WithReseed] = &[
        // [PersonalizationStringLen = 0] [AdditionalInputLen = 0] COUNT = 0
        WithReseed {
            entropy: "06032cd5eed33f39265f49ecb142c511da9aff2af71203bffaf34a9ca5bd9c0d",
            nonce: "0e66f71edc43e42a45ad3c6fc6cdc4df",
            personalization: "",
            entropy_reseed: "01920a4e669ed3a85ae8a33b35a74ad7fb2a6bb4cf395ce00334a9c9a5a5d552",
            returned: "76fc79fe9b50beccc991a11b5635783a83536add03c157fb30645e611c2898bb2b1bc215000209208cd506cb28da2a51bdb03826aaf2bd2335d576d519160842e7158ad0949d1a9ec3e66ea1b1a064b005de914eac2e9d4f2d72a8616a80225422918250ff66a41bd2f864a6a38cc5b6499dc43f7f2bd09e1e0f8f5885935124",
        },
        // [PersonalizationStringLen = 256] [AdditionalInputLen = 0] COUNT = 0
        WithReseed {
            entropy: "fa0ee1fe39c7c390aa94159d0de97564342b591777f3e5f6a4ba2aea342ec840",
            nonce: "dd0820655cb2ffdb0da9e9310a67c9e5",
            personalization: "f2e58fe60a3afc59dad37595415ffd318ccf69d67780f6fa0797dc9aa43e144c",
            entropy_reseed: "e0629b6d7975ddfa96a399648740e60f1f9557dc58b3d7415f9ba9d4dbb501f6",
            returned: "f92d4cf99a535b20222a52a68db04c5af6f5ffc7b66a473a37a256bd8d298f9b4aa4af7e8d181e02367903f93bdb744c6c2f3f3472626b40ce9bd6a70e7b8f93992a16a76fab6b5f162568e08ee6c3e804aefd952ddd3acb791c50f2ad69e9a04028a06a9c01d3a62aca2aaf6efe69ed97a016213a2dd642b4886764072d9cbe",
        },
    ];

    #[test]
    fn cavp_reseed_vectors() {
        for (i, case) in PR_FALSE.iter().enumerate() {
            let mut drbg = HmacDrbg::instantiate(
                &hex(case.entropy),
                &hex(case.nonce),
                &hex(case.personalization),
            )
            .expect("instantiate");
            drbg.reseed(&hex(case.entropy_reseed), &[]).expect("reseed");
            assert_eq!(drbg.reseed_counter(), 1);
            let mut out = vec![0u8; 128];
            drbg.generate(&mut out, &[]).expect("first generate");
            drbg.generate(&mut out, &[]).expect("second generate");
            assert_eq!(out, hex(case.returned), "case {i}");
        }
    }

    #[test]
    fn cavp_reseed_intermediate_state() {
        // The first PR_FALSE case: V and Key after the reseed step.
        let mut drbg = HmacDrbg::instantiate(
            &hex("06032cd5eed33f39265f49ecb142c511da9aff2af71203bffaf34a9ca5bd9c0d"),
            &hex("0e66f71edc43e42a45ad3c6fc6cdc4df"),
            &[],
        )
        .expect("instantiate");
        drbg.reseed(
            &hex("01920a4e669ed3a85ae8a33b35a74ad7fb2a6bb4cf395ce00334a9c9a5a5d552"),
            &[],
        )
        .expect("reseed");
        let (v, key) = drbg.state();
        assert_eq!(
            v.to_vec(),
            hex("c246fa97570ba2b9d9e5b453fe4632366f146fbd8491146563eb463c9eafe50c")
        );
        assert_eq!(
            key.to_vec(),
            hex("ca43e73325de43c41d7e0a7a3163fb04061b09fcee4c7b8884e969e3bdfdff9a")
        );
    }

    #[test]
    fn cavp_prediction_resistance_reseeds_with_additional_input() {
        // drbgvectors_pr_true, [PersonalizationStringLen = 0] [AdditionalInputLen = 256],
        // ReturnedBitsLen 256: with prediction resistance each generate first reseeds with
        // (EntropyInputPR, AdditionalInput) and then generates with no additional input, which
        // exercises reseed's additional input.
        let mut drbg = HmacDrbg::instantiate(
            &hex("6c1f4bffc476e488fb57eb80dc106cf2b417bad22b196baa6346958256db490f"),
            &hex("5f1b92223e3909e43677da2f588a6d19"),
            &[],
        )
        .expect("instantiate");
        let mut out = [0u8; 32];
        drbg.reseed(
            &hex("abaca65695bd5d289880453850fc8289b76f78b43f970ed32f4125a941165515"),
            &hex("e6cd940610375e504fa80406120b34d498b022393436e910c0ba2560603fd066"),
        )
        .expect("reseed 1");
        drbg.generate(&mut out, &[]).expect("generate 1");
        drbg.reseed(
            &hex("4a39b666cf861816d7d82ef6e23f70f149d74d9bd499eea19b622e751c43d839"),
            &hex("d20082c5bdf6f6711af391e7d01046b9d3610827de63aa2671a5f5ad07b90841"),
        )
        .expect("reseed 2");
        drbg.generate(&mut out, &[]).expect("generate 2");
        assert_eq!(
            out.to_vec(),
            hex("d3c36e4ae25ff21a95a157a89f13eb976362a695ea755f0465ed4a7bb20c5cb3")
        );
    }

    #[test]
    fn refuses_short_entropy_and_nonce() {
        assert_eq!(
            HmacDrbg::instantiate(&[7; 31], &[1; 16], &[]).err(),
            Some(DrbgError::NotEnoughEntropy)
        );
        assert_eq!(
            HmacDrbg::instantiate(&[7; 32], &[1; 15], &[]).err(),
            Some(DrbgError::NotEnoughEntropy)
        );
        let mut drbg = HmacDrbg::instantiate(&[7; 32], &[1; 16], b"test").expect("instantiate");
        assert_eq!(drbg.reseed(&[9; 31], &[]), Err(DrbgError::NotEnoughEntropy));
    }

    #[test]
    fn request_sizes_up_to_the_limit_and_a_payload() {
        let mut drbg = HmacDrbg::instantiate(&[7; 32], &[1; 16], b"test").expect("instantiate");
        // Sizes around the 32-byte block, up to a message payload (what RandomBytes asks).
        for len in [0, 1, 31, 32, 33, 63, 64, 65, 4095, 4096] {
            let mut out = vec![0u8; len];
            drbg.generate(&mut out, &[]).expect("generate");
            if len >= 32 {
                assert!(out.iter().any(|&b| b != 0), "{len} bytes all zero");
            }
        }
        let mut big = vec![0u8; MAX_REQUEST];
        assert_eq!(drbg.generate(&mut big, &[]), Ok(()));
        let mut too_big = vec![0u8; MAX_REQUEST + 1];
        assert_eq!(
            drbg.generate(&mut too_big, &[]),
            Err(DrbgError::RequestTooLarge)
        );
    }

    #[test]
    fn a_short_request_is_the_prefix_of_a_long_one() {
        // Output blocks are V after each HMAC: a 40-byte request starts with the bytes a
        // 64-byte request from the same state starts with.
        let a = HmacDrbg::instantiate(&[3; 32], &[4; 16], &[]).expect("instantiate");
        let (mut short, mut long) = (a.clone(), a);
        let (mut s, mut l) = ([0u8; 40], [0u8; 64]);
        short.generate(&mut s, &[]).expect("generate");
        long.generate(&mut l, &[]).expect("generate");
        assert_eq!(s[..], l[..40]);
    }

    #[test]
    fn successive_outputs_differ_and_reseeding_changes_the_stream() {
        let base = HmacDrbg::instantiate(&[5; 32], &[6; 16], &[]).expect("instantiate");
        let mut plain = base.clone();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        plain.generate(&mut a, &[]).expect("generate");
        plain.generate(&mut b, &[]).expect("generate");
        assert_ne!(a, b);

        let mut reseeded = base.clone();
        reseeded.reseed(&[8; 32], &[]).expect("reseed");
        let mut c = [0u8; 32];
        reseeded.generate(&mut c, &[]).expect("generate");
        let mut fresh = base;
        let mut d = [0u8; 32];
        fresh.generate(&mut d, &[]).expect("generate");
        assert_ne!(c, d);
        assert_eq!(a, d, "the same state gives the same output");
    }

    #[test]
    fn the_reseed_interval_is_enforced() {
        let mut drbg = HmacDrbg::instantiate(&[5; 32], &[6; 16], &[]).expect("instantiate");
        drbg.reseed_counter = RESEED_INTERVAL;
        let mut out = [0u8; 16];
        assert_eq!(drbg.generate(&mut out, &[]), Ok(()));
        assert_eq!(drbg.generate(&mut out, &[]), Err(DrbgError::ReseedRequired));
        drbg.reseed(&[9; 32], b"more").expect("reseed");
        assert_eq!(drbg.reseed_counter(), 1);
        assert_eq!(drbg.generate(&mut out, &[]), Ok(()));
    }

    #[test]
    fn debug_output_hides_the_state() {
        let drbg = HmacDrbg::instantiate(&[0xab; 32], &[6; 16], &[]).expect("instantiate");
        let text = format!("{drbg:?}");
        assert!(text.contains("reseed_counter"));
        let (v, key) = drbg.state();
        let v_hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
        let k_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&v_hex) && !text.contains(&k_hex));
        assert!(!text.contains(&format!("{:?}", v[0..4].to_vec())));
    }
}
