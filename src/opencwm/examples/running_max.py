import sys

n = int(sys.stdin.readline())
best = None
for tok in sys.stdin.readline().split()[:n]:
    x = int(tok)
    if best is None or x > best:
        best = x
print(best)
# stdin: "4\n3 9 2 7\n"
