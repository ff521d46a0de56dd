module cnpg-guard/examples/peer-go

go 1.19
