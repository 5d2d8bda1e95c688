module chat-platform/bench/centrifuge-peer

go 1.26

require github.com/centrifugal/centrifuge v0.40.1
