n = int(input())
a = [int(x) for x in input().split()]
pre = [0]
for x in a:
    pre.append(pre[-1] + x)
q = int(input())
for _ in range(q):
    l, r = map(int, input().split())
    print(pre[r] - pre[l - 1])
