// wrappedList: a long list wrapped under its head (connlist's groups), table-driven.

import t from 'tap';
import { wrappedList } from '../../src/cli/text-table.ts';

t.test('wrappedList', async (t) => {
  const cases: { name: string; head: string; items: string[]; limit: number; want: string[] }[] = [
    { name: 'fits on one line', head: 'g = 3 pods: ', items: ['a', 'b', 'c'], limit: 40, want: ['g = 3 pods: a, b, c'] },
    { name: 'wraps under an indent, commas kept at line ends', head: 'g = 4 pods: ', items: ['aaaa', 'bbbb', 'cccc', 'dddd'], limit: 20, want: ['g = 4 pods: aaaa,', '  bbbb, cccc, dddd'] },
    { name: 'exactly the limit stays on the line', head: 'h: ', items: ['abc', 'de'], limit: 11, want: ['h: abc, de'] },
    { name: 'one past the limit wraps', head: 'h: ', items: ['abc', 'def'], limit: 10, want: ['h: abc,', '  def'] },
    { name: 'an item longer than a line gets a line of its own', head: 'h: ', items: ['x', 'a-very-long-item-name', 'y'], limit: 12, want: ['h: x,', '  a-very-long-item-name,', '  y'] },
    { name: 'the first item does not fit after the head', head: 'a long head: ', items: ['item-one'], limit: 15, want: ['a long head:', '  item-one'] },
    { name: 'no items', head: 'h: ', items: [], limit: 10, want: ['h: '] },
  ];
  for (const c of cases) t.same(wrappedList(c.head, c.items, c.limit, '  '), c.want, c.name);
});
