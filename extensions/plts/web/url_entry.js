// URL and URLSearchParams for every realm: whatwg-url, bundled at build time (see CMakeLists.txt)
// into one function of the realm's own intrinsics (see web_url.cpp).
export { URL, URLSearchParams } from "whatwg-url";
