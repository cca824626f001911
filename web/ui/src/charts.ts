// ECharts, tree-shaken: only the charts and components the pages use.
import * as echarts from 'echarts/core'
import { LineChart, BarChart, PieChart } from 'echarts/charts'
import { BrushComponent, GridComponent, TooltipComponent, LegendComponent, MarkPointComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([LineChart, BarChart, PieChart, BrushComponent, GridComponent, TooltipComponent, LegendComponent, MarkPointComponent, CanvasRenderer])

export { echarts }
