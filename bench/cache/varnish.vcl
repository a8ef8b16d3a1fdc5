# Varnish with its built-in VCL: only the backend is declared, every subroutine falls through to
# the defaults. Used by conformance.py and hit_bench.py (@ORIGIN_PORT@ is filled in at run time).
vcl 4.1;

backend default {
    .host = "127.0.0.1";
    .port = "@ORIGIN_PORT@";
}
