import { createRouter, createWebHistory } from 'vue-router'
import { useAuth } from './stores/auth'
import LoginView from './views/LoginView.vue'
import FleetView from './views/FleetView.vue'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/fleet' },
    { path: '/login', component: LoginView, meta: { public: true, title: 'Log in' } },
    { path: '/fleet', component: FleetView, meta: { title: 'Fleet' } },
    { path: '/cuda', component: () => import('./views/CudaView.vue'), meta: { title: 'CUDA' } },
    { path: '/host', component: () => import('./views/HostView.vue'), meta: { title: 'Host' } },
    { path: '/nodes/:name', component: () => import('./views/NodeView.vue'), meta: { title: 'Node' } },
    { path: '/:rest(.*)*', component: () => import('./views/NotFound.vue'), meta: { title: 'Not found' } },
  ],
})

router.beforeEach((to) => {
  const auth = useAuth()
  if (!to.meta.public && !auth.loggedIn) return { path: '/login', query: { next: to.fullPath } }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title as string} · scope` : 'scope'
})
