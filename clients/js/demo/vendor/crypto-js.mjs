// The vendored crypto-js (a classic script that sets globalThis.CryptoJS, loaded first by the
// demo page) as the ES module the kit imports; the page's import map points `crypto-js` here.
export default globalThis.CryptoJS;
